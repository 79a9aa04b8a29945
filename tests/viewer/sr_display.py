"""What OHIF 3.13's SR loader makes of a TID 1500 report, read from the dataset independently
of Cervi's SR reader (the rules of OHIF's cornerstone-dicom-sr ``getSopClassHandlerModule``).

- Only the "Imaging Measurements" container (DCM 126010) is read; each measurement group becomes
  one annotation, drawn from its SCOORD on the image that the SCOORD references.
- A group with a SCOORD at its top level (TID 1410) is drawn from that SCOORD; its text lines
  are the group's NUM items, ``"<concept meaning>: <value, 2 decimals> <unit code value>"``,
  then a finding site (SCT 363698007) as ``"363698007: <meaning>"``.
- A group without one (TID 1501) is drawn from each NUM's SCOORD (INFERRED FROM, the first
  one); its text lines are its Comments (DCM 121106) as ``"<text>: "``, then its NUM items.
- At most five lines are drawn.
- A group that yields no SCOORD (none at its top level, and none INFERRED FROM a NUM) makes the
  whole viewer fail ("Something went wrong") as soon as the SR is opened; so does an SR with no
  group at all that yields one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pydicom import Dataset

IMAGING_MEASUREMENTS = ("DCM", "126010")
TRACKING_IDENTIFIER = ("DCM", "112039")
TRACKING_UID = ("DCM", "112040")
FINDING_SITE = ("SCT", "363698007")
COMMENT = ("DCM", "121106")
MAX_LINES = 5


@dataclass(frozen=True)
class ShownGroup:
    """One measurement group as OHIF draws it."""

    tracking_identifier: str
    tracking_uid: str  # OHIF's annotation UID (data-annotation-uid in the DOM)
    sop_instance_uid: str
    points: list[list[float]]  # image pixels (column, row), as in the SR
    lines: list[str]  # the text box, top to bottom
    outline: bool = True  # a region outline (TID 1410), not measurement lines (TID 1501)


def _concept(item: Dataset) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    if not seq:
        return ("", "")
    return (str(seq[0].CodingSchemeDesignator), str(seq[0].CodeValue))


def _groups(sr: Dataset) -> list[Dataset]:
    container = next(
        (c for c in sr.get("ContentSequence", []) if _concept(c) == IMAGING_MEASUREMENTS), None
    )
    return list(container.get("ContentSequence", [])) if container is not None else []


def js_fixed(value: float, digits: int = 2) -> str:
    """JavaScript's ``Number(value).toFixed(digits)`` for the values OHIF formats (a tie on the
    exact binary value rounds up, where Python's format rounds to even)."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def _line(num: Dataset) -> str:
    """A NUM's line; OHIF writes a value of 0 as nothing (``NumericValue ? ... : ''``)."""
    measured = num.MeasuredValueSequence[0]
    unit = measured.MeasurementUnitsCodeSequence[0].CodeValue
    meaning = num.ConceptNameCodeSequence[0].CodeMeaning
    value = float(measured.NumericValue)
    return f"{meaning}: {js_fixed(value) if value else ''} {unit}"


def groups_without_scoord(sr: Dataset) -> list[str]:
    """Tracking identifiers of the groups that make OHIF 3.13.2 fail (see the module text)."""
    failing = []
    for group in _groups(sr):
        items = list(group.get("ContentSequence", []))
        top = any(i.ValueType in ("SCOORD", "SCOORD3D") for i in items)
        inferred = any(
            c.ValueType in ("SCOORD", "SCOORD3D")
            for i in items
            if i.ValueType == "NUM"
            for c in i.get("ContentSequence", [])
        )
        if not (top or inferred):
            name = next(
                (str(i.TextValue) for i in items if _concept(i) == TRACKING_IDENTIFIER), "?"
            )
            failing.append(name)
    return failing


def shown_groups(sr: Dataset) -> list[ShownGroup]:
    """The groups OHIF draws, as it shows them, in document order; ``points`` are those of the
    top-level SCOORD (TID 1410) or of the first NUM's first SCOORD (TID 1501)."""
    shown = []
    for group in _groups(sr):
        items = list(group.get("ContentSequence", []))
        scoord = next((i for i in items if i.ValueType == "SCOORD"), None)
        nums = [i for i in items if i.ValueType == "NUM" and "MeasuredValueSequence" in i]
        lines = [_line(i) for i in nums]
        if scoord is None:
            scoord = next(
                (c for i in nums for c in i.get("ContentSequence", []) if c.ValueType == "SCOORD"),
                None,
            )
            if scoord is None:
                continue
            comments = [f"{i.TextValue}: " for i in items if _concept(i) == COMMENT]
            lines = comments + lines
        else:
            lines += [
                f"{FINDING_SITE[1]}: {i.ConceptCodeSequence[0].CodeMeaning}"
                for i in items
                if _concept(i) == FINDING_SITE
            ][:1]
        data = [float(v) for v in scoord.GraphicData]
        sop = str(scoord.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        tracking = next(str(i.TextValue) for i in items if _concept(i) == TRACKING_IDENTIFIER)
        shown.append(
            ShownGroup(
                tracking_identifier=tracking,
                tracking_uid=next(str(i.UID) for i in items if _concept(i) == TRACKING_UID),
                sop_instance_uid=sop,
                points=[data[k : k + 2] for k in range(0, len(data), 2)],
                lines=lines[:MAX_LINES],
                outline=any(i.ValueType == "SCOORD" for i in items),
            )
        )
    return shown
