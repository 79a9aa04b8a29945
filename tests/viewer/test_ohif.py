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

import numpy as np
import pytest
from numpy.typing import NDArray
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
    images = list(dict.fromkeys(g.sop_instance_uid for g in groups))
    # per image, a group with text first: the driver waits for a label to know the image is
    # drawn, and a region outline has none
    ordered = sorted(groups, key=lambda g: (images.index(g.sop_instance_uid), not g.lines))
    targets = [
        {
            "name": target_name(g),
            "sopInstanceUID": g.sop_instance_uid,
            "trackingUID": g.tracking_uid,
            "points": g.points,
        }
        for g in ordered
    ]
    url = viewer.study_url(sr.StudyInstanceUID, sr.SeriesInstanceUID)
    return groups, run_driver(deps, url, targets, artifacts, window=window)


def label_boxes(shape: tuple[int, ...], boxes: list[dict[str, float] | None]) -> NDArray[np.bool_]:
    """The screenshot's pixels under the other groups' label boxes (their text hides what is
    drawn or burned in there)."""
    hidden = np.zeros(shape, dtype=bool)
    for box in boxes:
        if box and box["width"] and box["height"]:
            top, left = int(box["top"]), int(box["left"])
            hidden[top : int(top + box["height"]) + 1, left : int(left + box["width"]) + 1] = True
    return hidden


def target_name(group: ShownGroup) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", group.tracking_identifier).strip("-")


def check_views(groups: list[ShownGroup], result: dict[str, Any], burned_in: bool = True) -> None:
    """Every group's lines in the DOM, on its own image, the label box not cut off by the
    viewport's right edge; every region outline on the screenshot where the SR's coordinates
    put it on that image (the outline burned into the pixels marks the spot; where
    ``burned_in`` is false, the outline is checked against the SR's coordinates alone)."""
    assert result["ok"], result.get("error")
    seen = {view["name"]: view for view in result["views"]}
    assert set(seen) == {target_name(g) for g in groups}
    for group in groups:
        view = seen[target_name(group)]
        assert view["sopInstanceUID"] == group.sop_instance_uid, group.tracking_identifier
        shown = [line.rstrip() for line in view["labels"] or []]
        assert shown == [line.rstrip() for line in group.lines], group.tracking_identifier
        same_image = {
            g.tracking_uid for g in groups if g.sop_instance_uid == group.sop_instance_uid
        }
        assert set(view["otherLabels"]) <= same_image, "an annotation of another image shown"
        box, port = view["textBox"], view["viewportRect"]
        assert box["left"] + box["width"] <= port["left"] + port["width"], "label cut off"
        if not group.outline:
            continue
        rgb = load_rgb(Path(view["screenshot"]))
        others = [
            v["textBox"]
            for v in seen.values()
            if v is not view and v["sopInstanceUID"] == view["sopInstanceUID"]
        ]
        hidden = label_boxes(rgb.shape[:2], others)
        drawn = edge_offsets(annotation_mask(rgb), view["expected"], hidden=hidden)
        burned = (
            edge_offsets(white_mask(rgb), view["expected"], hidden=hidden) if burned_in else None
        )
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
    # a reading screen: the study groups' labels run to the right of the skull base
    groups, result = open_in_ohif(viewer, viewer_deps, sr, artifacts, window=(1600, 1000))
    assert result["ok"], result.get("error")
    rois = [g for g in groups if g.outline]
    assert [g.sop_instance_uid for g in rois] == [images[v].SOPInstanceUID for v in SHOWN_ORDER]
    check_views(groups, result)
    # each view named on its image, every label called once, on the neutral view
    lines = {
        v: [
            line
            for g in groups
            if g.sop_instance_uid == images[v].SOPInstanceUID
            for line in g.lines
        ]
        for v in SHOWN_ORDER
    }
    for view in SHOWN_ORDER:
        assert f"{view.upper()} view: " in lines[view]
        assert any(line.startswith("ADI: ") and line.endswith(" mm") for line in lines[view])
    calls = [line for line in lines["neutral"] if "(thr " in line]
    assert len(calls) == 6 and not any(
        "(thr " in line for v in ("flexion", "extension") for line in lines[v]
    )
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
    assert len([g for g in groups if g.outline]) == 3
    check_views(groups, result, burned_in=False)
    shown = [line for g in groups for line in g.lines]
    assert sum("(thr " in line for line in shown) == 6
    assert sum(line.endswith(" view: ") for line in shown) == 3


def wait_for_sr(pacs: Orthanc, orthanc_study: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for series in pacs.sr_series(orthanc_study):
            return str(series["Instances"][0])
        time.sleep(0.1)
    raise AssertionError("no SR arrived in Orthanc")
