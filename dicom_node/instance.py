"""What Cervi keeps of a received instance's header: the identifiers and the fields that the
study assembly rules read. Plain data, no pixels and, unless needed, no patient data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydicom import Dataset
from pydicom.uid import RE_VALID_UID

# Header fields that view and accept rules may read (docs/views.md).
RULE_FIELDS = (
    "Modality",
    "BodyPartExamined",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "AcquisitionDeviceProcessingDescription",
    "ViewPosition",
    "PatientOrientation",
    "Manufacturer",
    "SeriesNumber",
    "InstanceNumber",
    "ContentDate",
    "ContentTime",
    "AcquisitionDateTime",
    "StudyDate",
    "StudyTime",
)
CODE_SEQUENCES = ("ViewCodeSequence", "AnatomicRegionSequence")
# DA is YYYYMMDD (PS3.5 6.2); senders also write YYYY-MM-DD or the ACR-NEMA YYYY.MM.DD,
# sometimes with a time after it.
_DATE = re.compile(r"(\d{4})[-.]?(\d{2})[-.]?(\d{2})")


class MissingIdentifier(ValueError):
    """A required identifier is absent or malformed; the message names the attribute only."""


@dataclass(frozen=True)
class InstanceMeta:
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    patient_id: str
    accession_number: str | None = None
    study_date: str | None = None
    modality: str | None = None
    header: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> InstanceMeta:
        """Read identifiers and rule fields; raise :class:`MissingIdentifier` when one is bad."""
        patient_id = _clean(str(ds.get("PatientID", "") or ""))
        if not patient_id:
            raise MissingIdentifier("PatientID is missing or empty")
        return cls(
            study_uid=_uid(ds, "StudyInstanceUID"),
            series_uid=_uid(ds, "SeriesInstanceUID"),
            sop_instance_uid=_uid(ds, "SOPInstanceUID"),
            sop_class_uid=_uid(ds, "SOPClassUID"),
            patient_id=patient_id,
            accession_number=_text(ds, "AccessionNumber"),
            study_date=_date(ds, "StudyDate"),
            modality=_text(ds, "Modality"),
            header=header_fields(ds),
        )


def is_valid_uid(value: object) -> bool:
    """PS3.5 9.1: digits and dots, no leading zeros, at most 64 characters."""
    return isinstance(value, str) and len(value) <= 64 and bool(RE_VALID_UID.fullmatch(value))


def _uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    text = str(value) if value is not None else ""
    if not is_valid_uid(text):
        raise MissingIdentifier(f"{keyword} is missing or not a valid UID")
    return text


def _clean(text: str) -> str:
    """Without NUL characters (padding by some senders; no database text column takes them)
    and surrounding spaces."""
    return text.replace("\x00", "").strip()


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return _clean(str(value)) or None


def _date(ds: Dataset, keyword: str) -> str | None:
    """The date as YYYYMMDD, or None when it is not one (the header keeps what was sent)."""
    text = _text(ds, keyword)
    match = _DATE.match(text or "")
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return None
    return year + month + day


def header_fields(ds: Dataset) -> dict[str, Any]:
    """The rule fields present in ``ds`` as JSON-ready values; code sequences as code lists."""
    fields: dict[str, Any] = {}
    for keyword in RULE_FIELDS:
        value = ds.get(keyword)
        if value is not None and value != "":
            fields[keyword] = _clean(str(value)) if not isinstance(value, int | float) else value
    for keyword in CODE_SEQUENCES:
        codes = []
        for item in ds.get(keyword, []) or []:
            codes.append(_code(item))
            for modifier in item.get("ViewModifierCodeSequence", []) or []:
                codes.append(_code(modifier) | {"modifier": True})
        if codes:
            fields[keyword] = codes
    return fields


def _code(item: Dataset) -> dict[str, Any]:
    return {
        "value": _clean(str(item.get("CodeValue", ""))),
        "scheme": _clean(str(item.get("CodingSchemeDesignator", ""))),
        "meaning": _clean(str(item.get("CodeMeaning", ""))),
    }
