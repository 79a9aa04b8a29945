"""Content-tree builders shared by Cervi's TID 1500 reports (private to ``dicom_node.sr``).

Each function returns highdicom content items or templates; ``_document`` turns the root
into a document. Codes come from :mod:`dicom_node.codes` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

import highdicom.sr as hsr
import numpy as np
from pydicom import Dataset

from dicom_node import codes, identity
from inference.result import LabelPrediction, ModelIdentity, RegionOfInterest

#: The namespace of Cervi's name-based (UUID v5) UIDs, written as "2.25.<uuid as integer>"
#: (PS3.5 B.2). Fixed forever: changing it changes every UID Cervi has ever derived.
UID_NAMESPACE = uuid.UUID("6f3b0c2e-5a7d-4c1e-9a52-3f0d2b7c9e41")

MAX_NUM_PER_GROUP = 5  # OHIF shows at most five NUM labels per measurement group
#: The order of the per-view groups: OHIF's basic viewer shows only the first group's image.
SHOWN_ORDER = ("neutral", "flexion", "extension")


def derive_uid(*parts: str) -> str:
    """A UID that depends only on ``parts`` (same parts, same UID; PS3.5 B.2 "2.25." form)."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, chr(31).join(parts)).int}"


def observation_context(model: ModelIdentity) -> hsr.ObservationContext:
    """TID 1001/1004: the device observer is the model (name, version, file hash)."""
    device = hsr.DeviceObserverIdentifyingAttributes(
        uid=derive_uid("device", model.sha256),
        name=model.name,
        manufacturer_name=identity.MANUFACTURER,
        model_name=f"{model.name} {model.version}",
        serial_number=model.sha256,
    )
    return hsr.ObservationContext(
        observer_device_context=hsr.ObserverContext(
            observer_type=codes.DEVICE,
            observer_identifying_attributes=device,
        )
    )


def algorithm_id(
    model: ModelIdentity, threshold: float | None = None
) -> hsr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification; parameters: the model file hash and, for a label's
    decision, its threshold (``threshold=0.5``, a probability)."""
    parameters = [f"sha256={model.sha256}"]
    if threshold is not None:
        parameters.append(f"threshold={threshold!r}")
    return hsr.AlgorithmIdentification(
        name=model.name,
        version=model.version,
        parameters=parameters,
        manufacturer=identity.MANUFACTURER,
    )


def image_library(entries: Sequence[tuple[str | None, Dataset]]) -> hsr.ContainerContentItem:
    """TID 1600 Image Library: one entry (TID 1601) per (view or None, source image); an image
    whose view is unknown is listed without view descriptors.

    Descriptors are the ones every DX/CR header has (modality, view, rows, columns), so a CR
    without PatientOrientation is still listed (highdicom's ``ImageLibrary`` requires it).
    """
    group = hsr.ContainerContentItem(
        name=codes.IMAGE_LIBRARY_GROUP, relationship_type=hsr.RelationshipTypeValues.CONTAINS
    )
    group.ContentSequence = [_library_entry(view, image) for view, image in entries]
    library = hsr.ContainerContentItem(
        name=codes.IMAGE_LIBRARY, relationship_type=hsr.RelationshipTypeValues.CONTAINS
    )
    library.ContentSequence = [group]
    return library


def _library_entry(view: str | None, image: Dataset) -> hsr.ImageContentItem:
    acq = hsr.RelationshipTypeValues.HAS_ACQ_CONTEXT
    entry = hsr.ImageContentItem(
        name=codes.SOURCE,
        referenced_sop_class_uid=image.SOPClassUID,
        referenced_sop_instance_uid=image.SOPInstanceUID,
        relationship_type=hsr.RelationshipTypeValues.CONTAINS,
    )
    modality = codes.MODALITIES.get(str(image.get("Modality", "OT")), codes.MODALITIES["OT"])
    items: list[hsr.ContentItem] = [
        hsr.CodeContentItem(name=codes.MODALITY, value=modality, relationship_type=acq)
    ]
    if view is not None:
        items.append(
            hsr.CodeContentItem(
                name=codes.IMAGE_VIEW, value=codes.LATERAL_PROJECTION, relationship_type=acq
            )
        )
    modifier = codes.VIEW_MODIFIERS[view] if view is not None else None
    if modifier is not None:
        items.append(
            hsr.CodeContentItem(
                name=codes.IMAGE_VIEW_MODIFIER, value=modifier, relationship_type=acq
            )
        )
    for name, keyword in ((codes.PIXEL_DATA_ROWS, "Rows"), (codes.PIXEL_DATA_COLUMNS, "Columns")):
        value = image.get(keyword)
        if value is None:  # an unreadable image may lack them
            continue
        items.append(
            hsr.NumContentItem(
                name=name, value=int(value), unit=codes.PIXELS, relationship_type=acq
            )
        )
    entry.ContentSequence = items
    return entry


def tracking(
    kind: str, name: str, base: tuple[str, ...], identifier: str
) -> hsr.TrackingIdentifier:
    """TID 4108 with a human readable identifier and a UID derived from the result's UIDs."""
    return hsr.TrackingIdentifier(uid=derive_uid(*base, kind, name), identifier=identifier)


def demo_evaluations(model: ModelIdentity) -> list[hsr.QualitativeEvaluation]:
    """The qualitative evaluation "Intended use: Not for diagnostic use" for a demo model."""
    if not model.demo:
        return []
    return [hsr.QualitativeEvaluation(codes.INTENDED_USE, codes.NOT_FOR_DIAGNOSTIC_USE)]


def percent(probability: float) -> float:
    """A probability as the NUM value written: percent to 6 significant digits (short, stable DS
    text). Not to fixed decimals: a probability under 5e-7 would be written as 0, and OHIF shows
    a NUM of 0 as an empty value (" %")."""
    return float(f"{probability * 100.0:.6g}")


def leading(labels: Iterable[LabelPrediction], n: int = MAX_NUM_PER_GROUP) -> list[LabelPrediction]:
    """The ``n`` most probable labels, ties broken by the label table's order."""
    order = {key: i for i, key in enumerate(codes.LABELS)}
    return sorted(labels, key=lambda lab: (-lab.probability, order[lab.key]))[:n]


def view_group(
    region: RegionOfInterest,
    image: Dataset,
    model: ModelIdentity,
    base: tuple[str, ...],
) -> hsr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 for one view: the region the model read, as a closed POLYLINE on that image.
    Probabilities are study-level and stand once in the study groups (``_measure``), not
    here. No finding site: OHIF would show it as one more label, named by its SNOMED code."""
    x0, y0, x1, y1 = region.box
    points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
    roi = hsr.ImageRegion(
        graphic_type=hsr.GraphicTypeValues.POLYLINE,
        graphic_data=points,
        source_image=hsr.SourceImageForRegion(
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
        ),
    )
    return hsr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking(
            "roi", region.view, base, f"Upper cervical ROI, {region.view}"
        ),
        referenced_region=roi,
        finding_type=codes.UPPER_CERVICAL_REGION,
        algorithm_id=algorithm_id(model),
        qualitative_evaluations=demo_evaluations(model),
    )


def label_evaluation(
    label: LabelPrediction, sources: Sequence[Dataset], model: ModelIdentity
) -> hsr.CodeContentItem:
    """One label's study-level result, an item of TID 1500's "Qualitative Evaluations"
    container (row 13, CODE): the finding, Present or Absent. TID 1500 is extensible; under
    the CODE hang what the decision rests on: the probability as NUM (percent; INFERRED FROM
    the source images the model used) and TID 4019 with the decision threshold as a parameter.

    Not a TID 1501 group in "Imaging Measurements": OHIF 3.13 fails on any group there that it
    cannot draw (no SCOORD), and breaks the whole viewer with it.
    """
    finding = codes.finding(label)
    inferred = hsr.RelationshipTypeValues.INFERRED_FROM
    probability = hsr.NumContentItem(
        name=codes.PROBABILITIES[label.key],
        value=percent(label.probability),
        unit=codes.PERCENT,
        relationship_type=inferred,
    )
    probability.ContentSequence = [
        hsr.ImageContentItem(
            name=codes.SOURCE,
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
            relationship_type=inferred,
        )
        for image in sources
    ]
    decision = hsr.CodeContentItem(
        name=finding,
        value=codes.PRESENT if label.present else codes.ABSENT,
        relationship_type=hsr.RelationshipTypeValues.CONTAINS,
    )
    decision.ContentSequence = [
        probability,
        *algorithm_id(model, threshold=label.threshold),
    ]
    return decision


def not_analysed_group(
    view: str,
    image: Dataset,
    missing: int,
    unreadable: int,
    model: ModelIdentity,
    base: tuple[str, ...],
    outside: int = 0,
) -> hsr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 for a view that arrived readable in a study that was not analysed (OHIF fails
    on an SR without a group it can draw): an outline in the image's top left corner, and as
    NUM items, the lines OHIF shows beside it, how many views were missing, unreadable and
    outside the model's training domain.

    The outline is a quarter of the image's width and an eighth of its height, not the whole
    image: OHIF puts the label to the right of the outline, and beside a whole-image outline
    it falls off the viewport (tests/viewer showed it clipped after 17 characters).
    """
    x1, y1 = round(image.Columns / 4, 1), round(image.Rows / 8, 1)
    points = np.array([[0.0, 0.0], [x1, 0.0], [x1, y1], [0.0, y1], [0.0, 0.0]], dtype=float)
    counts = (
        (codes.NOT_ANALYSED_MISSING, missing),
        (codes.NOT_ANALYSED_UNREADABLE, unreadable),
        (codes.NOT_ANALYSED_OUTSIDE_DOMAIN, outside),
    )
    return hsr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking("not-analysed", view, base, f"Not analysed, {view}"),
        referenced_region=hsr.ImageRegion(
            graphic_type=hsr.GraphicTypeValues.POLYLINE,
            graphic_data=points,
            source_image=hsr.SourceImageForRegion(
                referenced_sop_class_uid=image.SOPClassUID,
                referenced_sop_instance_uid=image.SOPInstanceUID,
            ),
        ),
        finding_type=codes.NOT_ANALYSED,
        algorithm_id=algorithm_id(model),
        # a count of 0 would show as ": {views}" (OHIF leaves a zero value out): not written
        measurements=[
            hsr.Measurement(name=name, value=count, unit=codes.VIEWS_UNIT)
            for name, count in counts
            if count
        ],
        qualitative_evaluations=demo_evaluations(model),
    )


def outcome_evaluations(
    states: Mapping[str, str], model: ModelIdentity, reason: str | None
) -> hsr.ContainerContentItem | None:
    """TID 1500's own "Qualitative Evaluations" container for the not-analysed outcome: the
    outcome, the state of each view, the reason (TEXT) and the demo notice."""
    contains = hsr.RelationshipTypeValues.CONTAINS
    items: list[hsr.ContentItem] = [
        hsr.CodeContentItem(
            name=codes.ANALYSIS_OUTCOME, value=codes.NOT_ANALYSED, relationship_type=contains
        )
    ]
    items += [
        hsr.CodeContentItem(
            name=codes.VIEW_STATUS[view], value=codes.VIEW_STATES[state], relationship_type=contains
        )
        for view, state in states.items()
    ]
    if reason:
        items.append(
            hsr.TextContentItem(
                name=codes.REASON_NOT_ANALYSED, value=reason, relationship_type=contains
            )
        )
    return evaluations_container(items + demo_notice(model))


def demo_notice(model: ModelIdentity) -> list[hsr.ContentItem]:
    """For a demo model: "Intended use: Not for diagnostic use" (CODE) and a sentence any SR
    text rendering shows (TEXT Comment)."""
    if not model.demo:
        return []
    contains = hsr.RelationshipTypeValues.CONTAINS
    sentence = (
        f"NOT FOR DIAGNOSTIC USE: {model.name} {model.version} is a demo model trained on "
        "synthetic phantoms."
    )
    return [
        hsr.CodeContentItem(
            name=codes.INTENDED_USE, value=codes.NOT_FOR_DIAGNOSTIC_USE, relationship_type=contains
        ),
        hsr.TextContentItem(name=codes.COMMENT, value=sentence, relationship_type=contains),
    ]


def evaluations_container(items: list[hsr.ContentItem]) -> hsr.ContainerContentItem | None:
    """TID 1500's own "Qualitative Evaluations" container (CODE and TEXT items), if any."""
    if not items:
        return None
    container = hsr.ContainerContentItem(
        name=codes.QUALITATIVE_EVALUATIONS, relationship_type=hsr.RelationshipTypeValues.CONTAINS
    )
    container.ContentSequence = items
    return container


def report_root(
    model: ModelIdentity,
    library: hsr.ContainerContentItem,
    groups: Sequence[Sequence[hsr.ContentItem]],
    evaluations: hsr.ContainerContentItem | None,
) -> hsr.ContainerContentItem:
    """TID 1500 root: language, device observer, procedure, Image Library, then the Imaging
    Measurements container (only when there are groups; every group has an outline, as OHIF
    needs) and the Qualitative Evaluations container. Assembled here because highdicom's
    ``MeasurementReport`` insists on at least one measurement group and on its own Image
    Library."""
    root = hsr.ContainerContentItem(name=codes.IMAGING_MEASUREMENT_REPORT, template_id="1500")
    items: list[hsr.ContentItem] = [
        *hsr.LanguageOfContentItemAndDescendants(codes.LANGUAGE),
        *observation_context(model),
        hsr.CodeContentItem(
            name=codes.PROCEDURE_REPORTED_CONCEPT,
            value=codes.PROCEDURE_REPORTED,
            relationship_type=hsr.RelationshipTypeValues.HAS_CONCEPT_MOD,
        ),
        library,
    ]
    if groups:
        container = hsr.ContainerContentItem(
            name=codes.IMAGING_MEASUREMENTS, relationship_type=hsr.RelationshipTypeValues.CONTAINS
        )
        container.ContentSequence = [item for group in groups for item in group]
        items.append(container)
    if evaluations is not None:
        items.append(evaluations)
    root.ContentSequence = items
    return root
