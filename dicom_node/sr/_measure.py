"""Measurement and study-level groups of Cervi's TID 1500 report (private to :mod:`dicom_node.sr`).

Per view, beside the view's ROI group: a TID 1501 group whose NUM items are the measurements
read on that view (mm, deg in UCUM), each INFERRED FROM the SCOORD lines it is measured between
on that image. For the study, once: TID 1501 groups on the neutral view (the first view used,
without one) holding the calls (present/absent, probability, threshold) and the study-level
measurements. A view's group opens with a Comment (TEXT) naming the view; the study groups'
Comments are the calls. OHIF 3.13 draws a group's Comment items, then its NUM items, as the lines
of its label (the first five) beside the first SCOORD of each NUM; a group with no drawable
SCOORD would break OHIF, so every group built here has one.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset

from dicom_node import codes
from dicom_node.sr._content import algorithm_id, demo_evaluations, percent, tracking
from inference.result import LabelPrediction, Measurement, ModelIdentity, RegionOfInterest

#: The study-level groups, on the first view shown: (calls, measurements) each. OHIF draws a
#: group's label beside its lines (right of them, from their middle down) and only its first five
#: lines, so the calls and the values they rest on come first, and each group's lines keep to one
#: level of the spine: the first at the skull base (Chamberlain's line, basion-dens), the second
#: at C2-C3. The changes over the views have no line of their own on one image.
STUDY_LAYOUT: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("atlantoaxial_instability", "atlantoaxial_dislocation", "basilar_invagination"),
        ("adi_change_mm", "dens_above_chamberlain_mm", "basion_dens_interval_mm"),
    ),
    (
        ("os_odontoideum", "atlas_assimilation", "c2_c3_fusion"),
        ("occiput_c1_motion_deg", "c2_c3_motion_deg", "c2_c3_disc_height_mm", "ossicle_gap_mm"),
    ),
)


def call_text(label: LabelPrediction) -> str:
    """One finding as a reader scans it: "AA instability PRESENT 91% (thr 44%)"."""
    name = codes.PROBABILITIES[label.key].meaning.removeprefix("P(").removesuffix(")")
    name = name[:1].upper() + name[1:]
    verdict = "PRESENT" if label.present else "absent"
    return f"{name} {verdict} {_pct(label.probability)} (thr {_pct(label.threshold)})"


def _pct(probability: float) -> str:
    value = probability * 100.0
    return "<1%" if value < 1.0 else f"{value:.0f}%"


def _comment(text: str) -> hsr.TextContentItem:
    return hsr.TextContentItem(
        name=codes.COMMENT, value=text, relationship_type=hsr.RelationshipTypeValues.CONTAINS
    )


def _scoord(line: Sequence[tuple[float, float]], image: Dataset) -> hsr.ScoordContentItem:
    """A line (POLYLINE) or a point (POINT) on ``image``, INFERRED FROM under its NUM."""
    kind = hsr.GraphicTypeValues.POINT if len(line) == 1 else hsr.GraphicTypeValues.POLYLINE
    item = hsr.ScoordContentItem(
        name=codes.IMAGE_REGION,
        graphic_type=kind,
        graphic_data=np.array(line, dtype=float),
        relationship_type=hsr.RelationshipTypeValues.INFERRED_FROM,
    )
    item.ContentSequence = [
        hsr.ImageContentItem(
            name=codes.SOURCE,
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
            relationship_type=hsr.RelationshipTypeValues.SELECTED_FROM,
        )
    ]
    return item


def _num(measurement: Measurement, scoords: Sequence[hsr.ScoordContentItem]) -> hsr.NumContentItem:
    """A measurement as NUM (UCUM unit), INFERRED FROM what it is measured between."""
    item = hsr.NumContentItem(
        name=codes.MEASUREMENTS[measurement.key],
        value=float(f"{measurement.value:.6g}"),
        unit=codes.UNITS[measurement.unit],
        relationship_type=hsr.RelationshipTypeValues.CONTAINS,
    )
    if scoords:
        item.ContentSequence = list(scoords)
    return item


def _lines_on(measurement: Measurement, image: Dataset | None) -> list[hsr.ScoordContentItem]:
    if image is None:
        return []
    return [_scoord(line, image) for line in measurement.lines if line]


def _group(
    kind: str,
    name: str,
    identifier: str,
    finding: codes.Code,
    items: list[hsr.ContentItem],
    model: ModelIdentity,
    base: tuple[str, ...],
) -> hsr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 with a tracking identifier and UID, a finding type, TID 4019, then ``items``."""
    group = hsr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking(kind, name, base, identifier),
        finding_type=finding,
        algorithm_id=algorithm_id(model),
        qualitative_evaluations=demo_evaluations(model),
    )
    group[0].ContentSequence.extend(items)
    return group


def view_measurement_group(
    view: str,
    image: Dataset,
    measurements: Sequence[Measurement],
    model: ModelIdentity,
    base: tuple[str, ...],
) -> hsr.MeasurementsAndQualitativeEvaluations | None:
    """TID 1501 for one view: "<VIEW> view" and the per-view measurements read on it (None
    when the view has no measurement with a line OHIF can draw)."""
    own = [m for m in measurements if m.per_view and m.view == view]
    nums = [_num(m, _lines_on(m, image)) for m in own]
    if not any(n.get("ContentSequence") for n in nums):
        return None
    items: list[hsr.ContentItem] = [_comment(f"{view.upper()} view"), *nums]
    return _group(
        "measurements",
        view,
        f"Measurements, {view}",
        codes.VIEW_MEASUREMENTS,
        items,
        model,
        base,
    )


def study_groups(
    labels: Sequence[LabelPrediction],
    measurements: Sequence[Measurement],
    images: dict[str, Dataset],
    regions: dict[str, RegionOfInterest],
    model: ModelIdentity,
    base: tuple[str, ...],
) -> list[hsr.MeasurementsAndQualitativeEvaluations]:
    """The study-level results, once: the calls as Comment lines and the study measurements as
    NUM items (:data:`STUDY_LAYOUT`), on the view whose lines they carry (the neutral view). A
    group without a measurement line to draw (a model without measurements, no neutral view)
    gets its first call's probability INFERRED FROM the outline of the region the model read,
    so that OHIF can place it."""
    by_label = {lab.key: lab for lab in labels}
    by_key = {m.key: m for m in measurements if not m.per_view}
    groups = []
    layout = list(STUDY_LAYOUT)
    others = [k for k in by_label if not any(k in calls for calls, _ in layout)]
    # a model with other labels: their calls in groups of their own, three to a group
    layout += [(tuple(others[i : i + 3]), ()) for i in range(0, len(others), 3)]
    for index, (calls, keys) in enumerate(layout, start=1):
        shown = [by_label[k] for k in calls if k in by_label]
        items: list[hsr.ContentItem] = [_comment(call_text(label)) for label in shown]
        nums = [
            _num(by_key[key], _study_lines(by_key[key], images)) for key in keys if key in by_key
        ]
        if shown and not any(n.get("ContentSequence") for n in nums):
            nums.insert(0, _probability_on_region(shown[0], images, regions))
        items += nums
        if items:
            groups.append((index, items))
    return [
        _group(
            "study",
            str(index),
            f"Study results {index}",
            codes.STUDY_RESULTS,
            items,
            model,
            base,
        )
        for index, items in groups
    ]


def _probability_on_region(
    label: LabelPrediction, images: dict[str, Dataset], regions: dict[str, RegionOfInterest]
) -> hsr.NumContentItem:
    """A call's probability (percent), INFERRED FROM the outline of the region the model read
    on the first view shown: what a study group draws when it has no measurement line."""
    view = next(v for v in ("neutral", "flexion", "extension") if v in regions and v in images)
    x0, y0, x1, y1 = regions[view].box
    outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    item = hsr.NumContentItem(
        name=codes.PROBABILITIES[label.key],
        value=percent(label.probability),
        unit=codes.PERCENT,
        relationship_type=hsr.RelationshipTypeValues.CONTAINS,
    )
    item.ContentSequence = [_scoord(outline, images[view])]
    return item


def _study_lines(
    measurement: Measurement, images: dict[str, Dataset]
) -> list[hsr.ScoordContentItem]:
    """The lines a study measurement is measured between on its view (none for a change over
    the views)."""
    if measurement.view is None:
        return []
    return _lines_on(measurement, images.get(measurement.view))
