"""Cervi's SR in the real OHIF viewer (issue 8): OHIF 3.13.2's prebuilt dist/, chromium driven by
puppeteer-core, Orthanc's DICOMweb as the PACS.

Two kinds of study: marked views (ROIs burned into the pixels, so the outline OHIF draws can be
compared with the image itself; SR made with the SR builder) and a phantom study that goes
PACS -> Cervi (shipped model) -> SR back in Orthanc.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset

from cervi.bootstrap import build_service
from cervi.demo.orthanc import Orthanc
from cervi.demo.viewer import ViewerServer
from cervi.settings import Destination
from dicom_node.sr import CerviImagingMeasurementReport, CerviNotAnalysedReport
from tests.integration.conftest import make_settings
from tests.support.results import DEMO_MODEL, from_bytes, prediction, to_bytes
from tests.viewer import marked_views
from tests.viewer.ohif import (
    ViewerDeps,
    annotation_mask,
    edge_offsets,
    load_rgb,
    run_driver,
    white_mask,
)
from tests.viewer.sr_display import ShownGroup, groups_without_scoord, shown_groups

SHOWN_ORDER = ("neutral", "flexion", "extension")  # /basic shows only the first group's image
TOLERANCE_PX = 3  # outline vs. expected position, in screen pixels (the image is shown ~1.4x)
NOW = datetime.datetime(2026, 11, 27, 12, 30, 15)


def store(pacs: Orthanc, *datasets: Dataset) -> None:
    for ds in datasets:
        pacs.post("/instances", to_bytes(ds))


def cervi_report(images: dict[str, Dataset]) -> Dataset:
    """The SR Cervi writes for the marked views (read back from bytes, as the PACS keeps it)."""
    report = CerviImagingMeasurementReport(
        prediction(boxes=marked_views.BOXES), images, result_version=1, content_datetime=NOW
    )
    return from_bytes(to_bytes(report))


def open_in_ohif(
    viewer: ViewerServer,
    deps: ViewerDeps,
    sr: Dataset,
    artifacts: Path,
    window: tuple[int, int] = (1280, 800),
) -> tuple[list[ShownGroup], dict[str, Any]]:
    groups = shown_groups(sr)
    targets = [
        {
            "name": re.sub(r"[^A-Za-z0-9]+", "-", g.tracking_identifier).strip("-"),
            "sopInstanceUID": g.sop_instance_uid,
            "trackingUID": g.tracking_uid,
            "points": g.points,
        }
        for g in groups
    ]
    url = viewer.study_url(sr.StudyInstanceUID, sr.SeriesInstanceUID)
    return groups, run_driver(deps, url, targets, artifacts, window=window)


def check_views(groups: list[ShownGroup], result: dict[str, Any], burned_in: bool = True) -> None:
    """Every ROI group's labels in the DOM, and its outline on the screenshot where the SR's
    coordinates put it on that image (the outline burned into the pixels marks the spot; where
    ``burned_in`` is false, the outline is checked against the SR's coordinates alone); the
    label box not cut off by the viewport's right edge."""
    assert result["ok"], result.get("error")
    seen = {view["sopInstanceUID"]: view for view in result["views"]}
    assert set(seen) == {g.sop_instance_uid for g in groups}
    for group in groups:
        view = seen[group.sop_instance_uid]
        assert view["labels"] == group.lines, group.tracking_identifier
        assert view["otherLabels"] == [], "one annotation per image"
        box, port = view["textBox"], view["viewportRect"]
        assert box["left"] + box["width"] <= port["left"] + port["width"], "label cut off"
        rgb = load_rgb(Path(view["screenshot"]))
        drawn = edge_offsets(annotation_mask(rgb), view["expected"])
        burned = edge_offsets(white_mask(rgb), view["expected"]) if burned_in else None
        for edge in ("top", "bottom", "left", "right"):
            where = f"{group.tracking_identifier}, {edge} edge"
            assert drawn[edge][1] >= 0.3, f"{where}: no ROI outline drawn ({drawn[edge]})"
            if burned is None:
                assert abs(drawn[edge][0]) <= TOLERANCE_PX, f"{where}: outline {drawn[edge]} off"
                continue
            assert burned[edge][1] >= 0.3, f"{where}: image outline not found ({burned[edge]})"
            shift = drawn[edge][0] - burned[edge][0]
            assert abs(shift) <= TOLERANCE_PX, f"{where}: outline {shift} px off the image's"


def test_ohif_shows_cervi_sr_labels_and_rois_on_each_view(
    pacs: Orthanc, viewer: ViewerServer, viewer_deps: ViewerDeps, artifacts: Path
) -> None:
    images = marked_views.study()
    sr = cervi_report(images)
    store(pacs, *images.values(), sr)
    assert groups_without_scoord(sr) == []  # any such group breaks the whole viewer
    groups, result = open_in_ohif(viewer, viewer_deps, sr, artifacts)
    assert result["ok"], result.get("error")
    assert [g.sop_instance_uid for g in groups] == [images[v].SOPInstanceUID for v in SHOWN_ORDER]
    check_views(groups, result)
    # What a person sees without touching anything: the first group's image, the neutral view
    # (OHIF offers no way, in the basic mode, to step to a group on another image).
    assert result["views"][0]["shownBy"] == "ohif"
    assert result["views"][0]["sopInstanceUID"] == images["neutral"].SOPInstanceUID


@pytest.mark.parametrize(
    ("unreadable", "drawn_on", "lines"),
    [
        ((), ("neutral", "flexion"), ["NOT ANALYSED, missing: 1.00 {views}"]),
        (
            ("flexion",),
            ("neutral",),
            ["NOT ANALYSED, missing: 1.00 {views}", "NOT ANALYSED, unreadable: 1.00 {views}"],
        ),
    ],
    ids=["missing", "missing-and-unreadable"],
)
def test_ohif_opens_the_not_analysed_report(
    unreadable: tuple[str, ...],
    drawn_on: tuple[str, ...],
    lines: list[str],
    pacs: Orthanc,
    viewer: ViewerServer,
    viewer_deps: ViewerDeps,
    artifacts: Path,
) -> None:
    """The "not analysed" outcome is a result too: opening it must not break the viewer, and
    each view received readable says so beside an outline in its top left corner."""
    images = marked_views.study()
    arrived = {view: images[view] for view in ("neutral", "flexion")}
    report = CerviNotAnalysedReport(
        arrived,
        DEMO_MODEL,
        missing=["extension"],
        unreadable=list(unreadable),
        reason="extension not received within the quiet period",
        result_version=1,
        content_datetime=NOW,
    )
    sr = from_bytes(to_bytes(report))
    store(pacs, *arrived.values(), sr)
    groups, result = open_in_ohif(viewer, viewer_deps, sr, artifacts)
    assert result["ok"], result.get("error")
    assert [g.sop_instance_uid for g in groups] == [arrived[v].SOPInstanceUID for v in drawn_on]
    assert all(g.lines == lines for g in groups)
    check_views(groups, result, burned_in=False)


def test_a_phantom_study_through_cervi_opens_in_ohif(
    pacs: Orthanc,
    viewer: ViewerServer,
    viewer_deps: ViewerDeps,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    """PACS -> Cervi -> SR back in Orthanc, with the shipped model: OHIF shows Cervi's labels,
    and each ROI outline where the SR's coordinates put it. Its first screenshot is the README's
    picture (test-artifacts/viewer/<this test>/)."""
    synth = pytest.importorskip("inference.phantom")
    settings = make_settings(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path)
    settings.results.destinations = [
        Destination(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=pacs.dicom_port)
    ]
    cervi = build_service(settings)
    cervi.start()
    try:
        study = synth.write_study(synth.generate_study(seed=7, index=3), tmp_path / "studies")
        ids = [pacs.upload(path) for path in sorted(study.glob("*.dcm"))]
        modality = {"AET": "CERVI", "Host": "127.0.0.1", "Port": cervi.listener.port}
        pacs.request("PUT", "/modalities/cervi", json.dumps(modality).encode())
        orthanc_study = pacs.get(f"/instances/{ids[0]}/study")["ID"]
        pacs.post("/modalities/cervi/store", {"Resources": [orthanc_study], "Synchronous": True})
        sr_id = wait_for_sr(pacs, orthanc_study)
    finally:
        cervi.stop()
    sr = from_bytes(pacs.request_bytes(f"/instances/{sr_id}/file"))
    assert groups_without_scoord(sr) == []
    groups, result = open_in_ohif(viewer, viewer_deps, sr, artifacts, window=(1600, 1000))
    assert result["ok"], result.get("error")
    assert len(groups) == 3 and all(g.lines for g in groups)
    check_views(groups, result, burned_in=False)


def wait_for_sr(pacs: Orthanc, orthanc_study: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for series in pacs.sr_series(orthanc_study):
            return str(series["Instances"][0])
        time.sleep(0.1)
    raise AssertionError("no SR arrived in Orthanc")
