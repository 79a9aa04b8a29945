"""Vendor header styles: how a phantom study names (or does not name) its three views.

Each style says which modality and series layout a site uses and which header field carries
the view, in the spellings docs/views.md lists. The view is never the
label: every style appears with every label combination.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VIEW_FIELDS = (
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "AcquisitionDeviceProcessingDescription",
)


@dataclass(frozen=True)
class Style:
    """One site's header conventions."""

    name: str
    modality: str  # "DX" or "CR"
    series_per_view: bool  # three series (True) or one series holding all three views
    manufacturer: str
    model: str
    view_codes: bool = False  # ViewCodeSequence lateral + ViewModifierCodeSequence flex/ext
    view_field: str | None = None  # header field that names the view, one of VIEW_FIELDS
    spellings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # view -> variants
    template: str = "{view}"  # how the chosen spelling is embedded in the field
    series_description: str = "C-SPINE"
    study_description: str = "XR CERVICAL SPINE"
    pixel_spacing: bool = True  # also write a calibrated PixelSpacing
    # ViewCodeSequence "lateral" (DX) and ViewPosition: a lateral view says "neutral" to rules
    # that read the bare "lateral" spellings, so the style that names no view leaves both out
    lateral_code: bool = True


ENGLISH = {
    "flexion": ("FLEX", "Flexion"),
    "extension": ("EXT", "Extension"),
    "neutral": ("NEUT", "Neutral", "Lat", "Lateral"),
}
GERMAN = {
    "flexion": ("Inklination", "Anteflexion"),
    "extension": ("Reklination", "Retroflexion"),
    "neutral": ("Neutral", "Lat"),
}

STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "dx_codes_one_series",
            "DX",
            False,
            "Cervi Phantom Radiography",
            "DR-1",
            view_codes=True,
            series_description="C-SPINE LAT DYNAMIC",
            study_description="XR C-SPINE FLEX/EXT",
        ),
        Style(
            "dx_codes_three_series",
            "DX",
            True,
            "Cervi Phantom Radiography",
            "DR-2",
            view_codes=True,
            series_description="C-SPINE LATERAL",
        ),
        Style(
            "dx_series_description_en",
            "DX",
            True,
            "Phantom Medical Systems",
            "Digital Diagnost",
            view_field="SeriesDescription",
            spellings=ENGLISH,
            template="C-Spine Lat {view}",
        ),
        Style(
            "dx_protocol_de",
            "DX",
            False,
            "Phantom Healthcare GmbH",
            "Ysio Phantom",
            view_field="ProtocolName",
            spellings=GERMAN,
            template="HWS seitl. {view}",
            series_description="HWS Funktion",
            study_description="HWS Funktionsaufnahmen",
        ),
        Style(
            "cr_image_comments",
            "CR",
            True,
            "Phantom CR",
            "CR 85-X",
            view_field="ImageComments",
            spellings={**ENGLISH, **{"neutral": ("Neutral",)}},
            template="{view}",
            pixel_spacing=False,
        ),
        Style(
            "dx_processing_description_de",
            "DX",
            True,
            "Phantom Imaging AG",
            "Luminos",
            view_field="AcquisitionDeviceProcessingDescription",
            spellings=GERMAN,
            template="HWS lat {view}",
            series_description="HWS",
            study_description="Roe HWS Funktion",
        ),
        Style(
            "cr_processing_description_en",
            "CR",
            False,
            "Phantom CR",
            "Regius Phantom",
            view_field="AcquisitionDeviceProcessingDescription",
            spellings=ENGLISH,
            template="CERVICAL SPINE {view}",
            pixel_spacing=False,
            study_description="CERVICAL SPINE DYNAMIC",
        ),
        Style(
            "dx_unnamed",
            "DX",
            False,
            "Anonymous Phantom",
            "DX-0",
            series_description="C-SPINE",
            lateral_code=False,
        ),
    )
}
STYLE_NAMES = tuple(STYLES)
