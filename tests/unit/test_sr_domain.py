"""The "not analysed" SR of a study whose view the model's domain gate refused: the view's
status says so, the reason names it, OHIF has a group to draw, dciodvfy finds no error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset

from dicom_node import codes
from dicom_node.sr import CerviNotAnalysedReport, read, read_report
from inference.result import DOMAIN_REASON
from tests.conftest import require_tool
from tests.support.results import (
    DEMO_MODEL,
    NOW,
    dciodvfy_findings,
    from_bytes,
    ohif_problems,
    to_bytes,
)


def refused(images: dict[str, Dataset], **kwargs: object) -> CerviNotAnalysedReport:
    args: dict[str, object] = {
        "outside_domain": ["neutral"],
        "reason": f"{DOMAIN_REASON}: neutral",
        "result_version": 1,
        "content_datetime": NOW,
    }
    args.update(kwargs)
    return CerviNotAnalysedReport(images, DEMO_MODEL, **args)  # type: ignore[arg-type]


def test_the_refused_view_is_named_and_drawn(images: dict[str, Dataset], tmp_path: Path) -> None:
    report = read_report(from_bytes(to_bytes(refused(images))))
    assert isinstance(report, CerviNotAnalysedReport)
    assert report.view_states == {
        "extension": "received",
        "neutral": "outside_domain",
        "flexion": "received",
    }
    assert report.outside_domain == ("neutral",)
    assert report.missing == () and report.unreadable == ()
    assert report.reason == "image outside the model's training domain: neutral"
    groups = read.measurement_groups(report)
    assert len(groups) == 3  # every view arrived readable: each gets its outline
    nums = {
        c.ConceptNameCodeSequence[0].CodeMeaning: read.num_value(c)
        for c in read.children(groups[0])
        if c.ValueType == "NUM"
    }
    assert nums == {"NOT ANALYSED, outside domain": 1.0}
    assert ohif_problems(report) == []
    path = tmp_path / "sr.dcm"
    path.write_bytes(to_bytes(report))
    errors, _ = dciodvfy_findings(require_tool("dciodvfy"), str(path))
    assert errors == []
    assert codes.VIEW_STATES["outside_domain"] == codes.OUTSIDE_DOMAIN


def test_a_refused_view_must_be_a_readable_arrival(images: dict[str, Dataset]) -> None:
    with pytest.raises(ValueError, match='"outside_domain" must name readable views'):
        refused({v: images[v] for v in ("extension", "flexion")})
    with pytest.raises(ValueError, match='"outside_domain" must name readable views'):
        refused(images, unreadable=["neutral"])
    with pytest.raises(ValueError, match='"outside_domain" must be a sequence'):
        refused(images, outside_domain="neutral")
