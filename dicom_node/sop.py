"""What the listener negotiates: the storage SOP classes Cervi takes and every transfer syntax a
PACS may send them in. Instances are stored as received, so no syntax is converted."""

from __future__ import annotations

from pydicom import uid
from pynetdicom import sop_class

STORAGE_SOP_CLASSES = (
    sop_class.ComputedRadiographyImageStorage,
    sop_class.DigitalXRayImageStorageForPresentation,
    sop_class.DigitalXRayImageStorageForProcessing,
    sop_class.SecondaryCaptureImageStorage,
    # Cervi's own SRs coming back (a PACS that routes whole studies): taken, then ignored by
    # study assembly, so that the PACS does not retry a refused instance for ever.
    sop_class.Comprehensive3DSRStorage,
)

TRANSFER_SYNTAXES = (
    uid.ImplicitVRLittleEndian,
    uid.ExplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.HTJ2KLossless,
    uid.HTJ2KLosslessRPCL,
    uid.HTJ2K,
    uid.RLELossless,
)
