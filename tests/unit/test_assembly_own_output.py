"""Cervi's own SR and key image, as the SR builders write them and after a round trip through
bytes (as they come back from the PACS), are recognised by study assembly and never taken in."""

from __future__ import annotations

from dicom_node.assembly import AssemblyConfig, decide_instance
from dicom_node.instance import InstanceMeta
from dicom_node.sr import CerviImagingMeasurementReport
from dicom_node.sr.key_image import CerviKeyImage
from tests.support.results import NOW, from_bytes, prediction, study_images, to_bytes

BOXES = {view: (20.0, 20.0, 60.0, 70.0) for view in ("extension", "neutral", "flexion")}


def _decide(dataset: object) -> tuple[bool, str | None]:
    meta = InstanceMeta.from_dataset(from_bytes(to_bytes(dataset)))  # type: ignore[arg-type]
    decision = decide_instance(meta, AssemblyConfig())
    return decision.accepted, decision.reason


def test_the_source_views_themselves_are_taken_with_their_view() -> None:
    for view, image in study_images().items():
        meta = InstanceMeta.from_dataset(from_bytes(to_bytes(image)))
        decision = decide_instance(meta, AssemblyConfig())
        assert (decision.accepted, decision.view) == (True, view)


def test_cervi_sr_coming_back_is_ignored() -> None:
    report = CerviImagingMeasurementReport(
        prediction(boxes=BOXES), study_images(), result_version=1, content_datetime=NOW
    )
    assert _decide(report) == (False, "Cervi's own structured report")


def test_cervi_key_image_coming_back_is_ignored() -> None:
    key = CerviKeyImage(
        prediction(boxes=BOXES),
        study_images(size=128)["neutral"],
        result_version=1,
        content_datetime=NOW,
    )
    assert _decide(key) == (False, "Cervi's own key image")
