"""Reading Cervi's TID 1500 content trees back: the walks the report classes' properties use,
and tests and tools that look inside a report.

Plain walks over pydicom datasets: concept names are compared by (scheme, value) with the
constants in :mod:`dicom_node.codes`.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom import Dataset
from pydicom.sr.coding import Code

from dicom_node import codes


def is_(item: Dataset, code: Code) -> bool:
    """Whether ``item``'s concept name (or a code dataset itself) is ``code``."""
    seq = item.get("ConceptNameCodeSequence")
    concept = seq[0] if seq else item
    return (
        concept.get("CodeValue") == code.value
        and concept.get("CodingSchemeDesignator") == code.scheme_designator
    )


def children(item: Dataset) -> Iterator[Dataset]:
    yield from item.get("ContentSequence", [])


def child(item: Dataset, code: Code) -> Dataset | None:
    return next((c for c in children(item) if is_(c, code)), None)


def code_value(item: Dataset) -> Dataset:
    return item.ConceptCodeSequence[0]


def num_value(item: Dataset) -> float:
    return float(item.MeasuredValueSequence[0].NumericValue)


def measurement_groups(root: Dataset) -> list[Dataset]:
    container = child(root, codes.IMAGING_MEASUREMENTS)
    return list(children(container)) if container is not None else []


def label_evaluations(root: Dataset) -> dict[str, Dataset]:
    """{label key: its Present/Absent CODE item} in TID 1500's "Qualitative Evaluations"."""
    container = child(root, codes.QUALITATIVE_EVALUATIONS)
    found: dict[str, Dataset] = {}
    for item in children(container) if container is not None else ():
        # the label is told by its probability concept: the finding's own code is the model
        # file's, whichever model made the report
        for key, probability in codes.PROBABILITIES.items():
            if child(item, probability) is not None:
                found[key] = item
    return found


def library_views(root: Dataset) -> dict[str, str]:
    """{SOP Instance UID: view} from the Image Library's view descriptors ("unknown" where an
    entry has none)."""
    views: dict[str, str] = {}
    library = child(root, codes.IMAGE_LIBRARY)
    if library is None:
        return views
    for group in children(library):
        for entry in children(group):
            if entry.ValueType != "IMAGE":
                continue
            uid = entry.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            modifier = child(entry, codes.IMAGE_VIEW_MODIFIER)
            view = "neutral" if child(entry, codes.IMAGE_VIEW) is not None else "unknown"
            if modifier is not None:
                for name, code in codes.VIEW_MODIFIERS.items():
                    if code is not None and is_(code_value(modifier), code):
                        view = name
            views[str(uid)] = view
    return views


def finding_type(group: Dataset) -> Dataset | None:
    item = child(group, codes.FINDING)
    return code_value(item) if item is not None else None


def algorithm(group: Dataset) -> tuple[str, str, list[str]]:
    """(name, version, parameters) of the TID 4019 items in ``group``."""
    name = child(group, codes.ALGORITHM_NAME)
    if name is None:
        raise ValueError("measurement group has no Algorithm Name")
    version = child(group, codes.ALGORITHM_VERSION)  # TID 4019 items are siblings
    params = [str(c.TextValue) for c in children(group) if is_(c, codes.ALGORITHM_PARAMETERS)]
    return str(name.TextValue), str(version.TextValue) if version else "", params


def device_observer(root: Dataset) -> tuple[str, str]:
    """(Device Observer Name, Device Observer Serial Number) of the TID 1004 items."""
    name = child(root, codes.DEVICE_OBSERVER_NAME)
    serial = child(root, codes.DEVICE_OBSERVER_SERIAL_NUMBER)
    return (
        str(name.TextValue) if name is not None else "",
        str(serial.TextValue) if serial is not None else "",
    )


def not_for_diagnostic_use(group: Dataset) -> bool:
    item = child(group, codes.INTENDED_USE)
    return item is not None and is_(code_value(item), codes.NOT_FOR_DIAGNOSTIC_USE)


def box(group: Dataset) -> tuple[str, tuple[float, float, float, float]]:
    """(referenced SOP Instance UID, (x0, y0, x1, y1)) of the group's SCOORD region."""
    region = next(c for c in children(group) if c.ValueType == "SCOORD")
    data = [float(v) for v in region.GraphicData]
    xs, ys = data[0::2], data[1::2]
    ref = next(children(region)).ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    return str(ref), (min(xs), min(ys), max(xs), max(ys))


def measurements(group: Dataset) -> list[tuple[str, float, str | None, list[list[float]]]]:
    """(measurement key, value, SOP Instance UID of its first line or None, every line's
    points flattened) for each NUM of ``group`` whose concept is a Cervi measurement."""
    found = []
    for item in children(group):
        if item.ValueType != "NUM" or not item.get("ConceptNameCodeSequence"):
            continue
        key = next((k for k, c in codes.MEASUREMENTS.items() if is_(item, c)), None)
        if key is None:
            continue
        lines = [c for c in children(item) if c.ValueType == "SCOORD"]
        uid = (
            str(lines[0].ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
            if lines
            else None
        )
        found.append(
            (key, num_value(item), uid, [[float(v) for v in c.GraphicData] for c in lines])
        )
    return found
