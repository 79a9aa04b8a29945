"""Every coded concept Cervi writes into DICOM, each with its meaning, in one place.

Sources, in order of preference:

- ``DCM``: DICOM PS3.16 Annex D (checked against pydicom's PS3.16-derived concept dictionary).
- ``SCT``: SNOMED CT, only codes that PS3.16 itself lists (CID 92, CID 240, CID 4010, CID 4) or that
  docs/views.md lists (9964006 Flexion, 24154002 Extension). No SNOMED code is invented here.
- ``UCUM``: units.
- ``99CERVI``: Cervi's private coding scheme for everything else (the labels, the probability
  and threshold concepts, view status). It is declared in every object that uses it through
  :func:`coding_scheme` (CodingSchemeIdentificationSequence, PS3.3 C.12.1).

A label's finding code is the one the model file gives it (``cervi.codes``, carried by each
:class:`~inference.result.LabelPrediction`; :func:`finding`); :data:`LABELS` holds the defaults
from :mod:`inference.labels`, which training writes into the file. The logic modules
(``dicom_node.sr``, ``key_image.py``) import names from here and never spell a code.
"""

from __future__ import annotations

from types import MappingProxyType

from highdicom.coding_schemes import CodingSchemeIdentificationItem
from pydicom.sr.coding import Code

from dicom_node import identity
from inference.result import CODING_SCHEME, LABEL_CODES, VIEWS, LabelPrediction

PRIVATE_SCHEME = CODING_SCHEME


def coding_scheme() -> CodingSchemeIdentificationItem:
    """A fresh CodingSchemeIdentificationSequence item declaring ``99CERVI`` (a dataset is
    mutable, so every document gets its own)."""
    return CodingSchemeIdentificationItem(
        designator=PRIVATE_SCHEME,
        name=identity.CODING_SCHEME_NAME,
        responsible_organization=identity.MANUFACTURER,
    )


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# --- DICOM (PS3.16) -------------------------------------------------------------------------
IMAGING_MEASUREMENT_REPORT = Code("126000", "DCM", "Imaging Measurement Report")
COMMENT = Code("121106", "DCM", "Comment")
DEVICE = Code("121007", "DCM", "Device")  # TID 1002 observer type
DEVICE_OBSERVER_NAME = Code("121013", "DCM", "Device Observer Name")  # TID 1004
DEVICE_OBSERVER_SERIAL_NUMBER = Code("121016", "DCM", "Device Observer Serial Number")
IMAGE_VIEW = Code("111031", "DCM", "Image View")
IMAGE_VIEW_MODIFIER = Code("111032", "DCM", "Image View Modifier")
IMAGE_LIBRARY = Code("111028", "DCM", "Image Library")
IMAGE_LIBRARY_GROUP = Code("126200", "DCM", "Image Library Group")
MODALITY = Code("121139", "DCM", "Modality")
PIXEL_DATA_ROWS = Code("110910", "DCM", "Pixel Data Rows")
PIXEL_DATA_COLUMNS = Code("110911", "DCM", "Pixel Data Columns")
IMAGING_MEASUREMENTS = Code("126010", "DCM", "Imaging Measurements")
TRACKING_IDENTIFIER = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID = Code("112040", "DCM", "Tracking Unique Identifier")
FINDING = Code("121071", "DCM", "Finding")
PROCEDURE_REPORTED_CONCEPT = Code("121058", "DCM", "Procedure reported")
ALGORITHM_NAME = Code("111001", "DCM", "Algorithm Name")  # TID 4019
ALGORITHM_VERSION = Code("111003", "DCM", "Algorithm Version")
ALGORITHM_PARAMETERS = Code("111002", "DCM", "Algorithm Parameters")

#: CID 29 "Acquisition Modality": the DCM code value is the Modality attribute's value.
MODALITIES = MappingProxyType(
    {
        "DX": Code("DX", "DCM", "Digital Radiography"),
        "CR": Code("CR", "DCM", "Computed Radiography"),
        "OT": Code("OT", "DCM", "Other"),
    }
)

#: TID 1500 row "Qualitative Evaluations" (UMLS, as dcmjs and the HL7 DICOM SR IG write it).
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
LANGUAGE = Code("en-US", "RFC5646", "English (United States)")  # TID 1204, BCP 47

# --- SNOMED CT, verified ----------------------------------------------------------------------
LATERAL_PROJECTION = Code("399067008", "SCT", "lateral")  # CID 4010 "DX View"
FLEXION = Code("9964006", "SCT", "Flexion")  # CID 92; docs/views.md
EXTENSION = Code("24154002", "SCT", "Extension")  # CID 92; docs/views.md
SOURCE = Code("260753009", "SCT", "Source")  # TID 1601 image library entry (as highdicom)
PRESENT = Code("52101004", "SCT", "Present")  # CID 240
ABSENT = Code("272519000", "SCT", "Absent")  # CID 240

# --- UCUM -------------------------------------------------------------------------------------
PERCENT = Code("%", "UCUM", "Percent")
MILLIMETRE = Code("mm", "UCUM", "millimeter")
DEGREE = Code("deg", "UCUM", "degree")
#: UCUM unit of each unit string a measurement carries (``inference.measurements``).
UNITS = MappingProxyType({"mm": MILLIMETRE, "deg": DEGREE})
PIXELS = Code("{pixels}", "UCUM", "Pixels")

# --- Cervi private (99CERVI) ------------------------------------------------------------------
PROCEDURE_REPORTED = _private(
    "CERVI-DYN", "Dynamic cervical spine radiography (extension, neutral, flexion)"
)
UPPER_CERVICAL_REGION = _private("CERVI-ROI", "Upper cervical spine region")
ANALYSIS_OUTCOME = _private("CERVI-OUT", "Analysis outcome")
REASON_NOT_ANALYSED = _private("CERVI-WHY", "Reason not analysed")
NOT_ANALYSED = _private("CERVI-NA", "Not analysed")
INTENDED_USE = _private("CERVI-USE", "Intended use")
NOT_FOR_DIAGNOSTIC_USE = _private("CERVI-NDX", "Not for diagnostic use")

#: The default finding concept per label key (docs/labels.md), as
#: :mod:`inference.labels` defines it and training writes it into the model file.
LABELS = MappingProxyType(
    {key: _private(value, meaning) for key, (value, meaning) in LABEL_CODES.items()}
)


def finding(label: LabelPrediction) -> Code:
    """The finding concept of a predicted label: the code its model file gives it."""
    return _private(label.code, label.meaning)


#: The NUM concept for each label's probability. OHIF labels a NUM "<meaning>: <value> <unit>"
#: in a box about 290 px wide that clips longer lines, and puts the box to the right of the ROI,
#: where it can run past the viewport's edge; so the meaning is short and says what the number
#: is: "P(AA instability): 87.00 %" (AA: atlantoaxial). Readers compare code values.
PROBABILITIES = MappingProxyType(
    {
        "atlantoaxial_instability": _private("CERVI-AAI-P", "P(AA instability)"),
        "atlantoaxial_dislocation": _private("CERVI-AAD-P", "P(AA dislocation)"),
        "basilar_invagination": _private("CERVI-BI-P", "P(basilar invagination)"),
        "os_odontoideum": _private("CERVI-OSO-P", "P(os odontoideum)"),
        "atlas_assimilation": _private("CERVI-AOA-P", "P(atlas assimilation)"),
        "c2_c3_fusion": _private("CERVI-C23-P", "P(C2-C3 fusion)"),
    }
)

#: Study-level groups in "Imaging Measurements": the calls and the measurements read once per
#: study (the changes over the views and the neutral view's craniocervical measurements).
STUDY_RESULTS = _private("CERVI-STUDY", "Study-level results")
#: Per-view groups of measurements, beside the view's ROI group.
VIEW_MEASUREMENTS = _private("CERVI-MEAS", "Upper cervical measurements")
IMAGE_REGION = Code("111030", "DCM", "Image Region")  # a SCOORD's concept (as highdicom)

#: One concept per measurement (``inference.measurements``). No SNOMED CT, LOINC or RadLex
#: code for these radiographic measurements was found (searched 2026-11): private codes. The
#: meanings are short because OHIF draws "<meaning>: <value> <unit>" in a narrow box.
MEASUREMENTS = MappingProxyType(
    {
        "adi_mm": _private("CERVI-ADI", "ADI"),
        "occiput_c1_angle_deg": _private("CERVI-OC1A", "Occiput-C1 angle"),
        "c2_c3_angle_deg": _private("CERVI-C23A", "C2-C3 angle"),
        "adi_change_mm": _private("CERVI-ADIC", "ADI change ext-flex"),
        "dens_above_chamberlain_mm": _private("CERVI-CHAM", "Dens above Chamberlain"),
        "basion_dens_interval_mm": _private("CERVI-BDI", "Basion-dens interval"),
        "occiput_c1_motion_deg": _private("CERVI-OC1M", "Occiput-C1 motion"),
        "c2_c3_motion_deg": _private("CERVI-C23M", "C2-C3 motion"),
        "c2_c3_disc_height_mm": _private("CERVI-C23D", "C2-C3 disc height"),
        "ossicle_gap_mm": _private("CERVI-OSG", "Ossicle gap"),
    }
)

#: The three lateral views. ``IMAGE_VIEW`` is lateral for all; the modifier says which one
#: (no verified SNOMED code exists for "neutral": that view has no modifier).
VIEW_MODIFIERS = MappingProxyType(dict(zip(VIEWS, (EXTENSION, None, FLEXION), strict=True)))

#: Concept names of the per-view status items in a "not analysed" report.
VIEW_STATUS = MappingProxyType(
    {
        "extension": _private("CERVI-VEXT", "Extension view"),
        "neutral": _private("CERVI-VNEU", "Neutral view"),
        "flexion": _private("CERVI-VFLX", "Flexion view"),
    }
)

#: The NUM items of a "not analysed" report's per-view groups (OHIF shows NUM items only):
#: "NOT ANALYSED, missing: 1.00 {views}" says what happened and why on the image itself.
NOT_ANALYSED_MISSING = _private("CERVI-NA-MISS", "NOT ANALYSED, missing")
NOT_ANALYSED_UNREADABLE = _private("CERVI-NA-UNRD", "NOT ANALYSED, unreadable")
NOT_ANALYSED_OUTSIDE_DOMAIN = _private("CERVI-NA-OOD", "NOT ANALYSED, outside domain")
VIEWS_UNIT = Code("{views}", "UCUM", "views")  # a count of views (UCUM annotation = unity)

#: Values of a view status item.
RECEIVED = _private("CERVI-RCVD", "Received")
MISSING = _private("CERVI-MISS", "Missing")
UNREADABLE = _private("CERVI-UNRD", "Unreadable")
#: the model's domain gate refused the image (inference.domain): unlike what it was trained on
OUTSIDE_DOMAIN = _private("CERVI-OOD", "Outside the model's training domain")
VIEW_STATES = MappingProxyType(
    {
        "received": RECEIVED,
        "missing": MISSING,
        "unreadable": UNREADABLE,
        "outside_domain": OUTSIDE_DOMAIN,
    }
)


def label_for(code_value: str) -> str | None:
    """The label key whose finding or probability concept has ``code_value``, if any."""
    for key in LABELS:
        if code_value in (LABELS[key].value, PROBABILITIES[key].value):
            return key
    return None
