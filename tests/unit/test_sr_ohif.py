"""The SR layout OHIF 3.13.2 can open: every measurement group needs an outline (see
tests/viewer for the real viewer); the rule checked on the SRs the builders make."""

from __future__ import annotations

import highdicom.sr as hsr
import numpy as np
import pytest
from pydicom import Dataset
from pydicom.sr.coding import Code

from dicom_node import codes
from dicom_node.sr import read
from tests.support.results import from_bytes, ohif_problems, prediction, to_bytes
from tests.unit.test_sr import build, not_analysed


def test_viewer_reads_every_report_without_trouble(images: dict[str, Dataset]) -> None:
    assert ohif_problems(from_bytes(to_bytes(build(images)))) == []
    assert ohif_problems(from_bytes(to_bytes(not_analysed(images)))) == []


def _with_group(ds: Dataset, num_child: hsr.ContentItem) -> Dataset:
    """``ds`` with one more TID 1501 group: a NUM whose only child is ``num_child``."""
    num = hsr.NumContentItem(
        name=codes.PROBABILITIES["os_odontoideum"],
        value=1,
        unit=codes.PERCENT,
        relationship_type=hsr.RelationshipTypeValues.CONTAINS,
    )
    num.ContentSequence = [num_child]
    group = hsr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hsr.TrackingIdentifier(uid="1.2.3.4", identifier="extra"),
        finding_type=codes.LABELS["os_odontoideum"],
    )
    group[0].ContentSequence.append(num)
    read.child(ds, codes.IMAGING_MEASUREMENTS).ContentSequence.append(group[0])
    return ds


def test_ohif_problems_knows_which_groups_break_the_viewer(images: dict[str, Dataset]) -> None:
    """The rules the viewer tier found: a NUM that only references images gives no outline
    (the old per-label groups), one INFERRED FROM a SCOORD does."""
    inferred = hsr.RelationshipTypeValues.INFERRED_FROM
    image = images["neutral"]
    source = hsr.ImageContentItem(
        name=codes.SOURCE,
        referenced_sop_class_uid=image.SOPClassUID,
        referenced_sop_instance_uid=image.SOPInstanceUID,
        relationship_type=inferred,
    )
    only_image = _with_group(from_bytes(to_bytes(build(images))), source)
    added = len(read.measurement_groups(only_image)) - 1
    assert ohif_problems(only_image) == [
        f"group {added}: no outline (SCOORD), the whole viewer fails"
    ]
    outline = hsr.ScoordContentItem(
        name=Code("111030", "DCM", "Image Region"),
        graphic_type=hsr.GraphicTypeValues.POINT,
        graphic_data=np.array([[5.0, 5.0]]),
        relationship_type=inferred,
    )
    outline.ContentSequence = [
        hsr.ImageContentItem(
            name=codes.SOURCE,
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
            relationship_type=hsr.RelationshipTypeValues.SELECTED_FROM,
        )
    ]
    assert ohif_problems(_with_group(from_bytes(to_bytes(build(images))), outline)) == []


def test_tiny_probabilities_are_written_above_zero(images: dict[str, Dataset]) -> None:
    """OHIF shows a NUM of 0 as an empty value (" %"): a probability of 3e-7 must not round to
    it, and the DS text stays short."""
    tiny = prediction((0.91, 3e-7, 0.4321, 2e-7, 0.725, 0.999999987))
    ds = from_bytes(to_bytes(build(images, prediction=tiny)))
    nums = [
        read.child(item, codes.PROBABILITIES[key])
        for key, item in read.label_evaluations(ds).items()
    ]
    written = {c.ConceptNameCodeSequence[0].CodeMeaning: c.MeasuredValueSequence[0] for c in nums}
    assert float(written["P(AA dislocation)"].NumericValue) == pytest.approx(3e-5)
    assert float(written["P(C2-C3 fusion)"].NumericValue) == pytest.approx(99.9999987, abs=1e-4)
    assert all(len(str(v.NumericValue)) <= 16 for v in written.values())
