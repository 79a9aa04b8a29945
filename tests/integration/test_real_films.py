"""Real radiographs (tests/data/real, SOURCES.md) through a real ``cervi serve`` with the shipped
model: every film is either refused by the model's domain gate or analysed with its ROI box
holding the hand-annotated dens tip and C2 centre; a normal film is never reported with a finding
present; a film that is not a cervical spine is never analysed.

Each film is its own study, sent with storescu; the service analyses a study of one view once
its quiet period is over (``min_views: 1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.conftest import require_tool
from tests.support.service import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "real"
MODELS = ROOT / "models"
ANNOTATIONS = {
    name: value
    for name, value in json.loads((REAL / "landmarks.json").read_text()).items()
    if not name.startswith("_")
}
DONE = {"analysed", "not_analysed", "failed"}


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _wait(port: int, study_uid: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            detail = _get(port, f"/api/v1/studies/{study_uid}")
            if detail["state"] in DONE:
                return detail
        except OSError:  # 404 until the first instance is in
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{study_uid} not decided within {timeout} s")
        time.sleep(0.5)


def _holds(box: list[float], point: list[float]) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


@pytest.mark.skipif(not (MODELS / "cervihfenet-demo.onnx").is_file(), reason="no shipped model")
def test_real_films_are_refused_or_found(database_url: str, tmp_path: Path) -> None:
    storescu = require_tool("storescu")
    serve = ServeProcess(
        tmp_path / "serve",
        database_url,
        extra={
            "assembly": {"quiet_seconds": 1, "min_views": 1},
            "inference": {
                "model": str(MODELS / "cervihfenet-demo.onnx"),
                "roi_model": str(MODELS / "cervi-roi-demo.onnx"),
            },
        },
    ).start()
    try:
        command = [storescu, "-aec", "CERVI", "127.0.0.1", str(serve.port)]
        files = [str(REAL / name) for name in ANNOTATIONS]
        subprocess.run(
            [*command, *files], check=True, env={**os.environ, "TCP_NODELAY": "1"}, timeout=60
        )
        outcomes = {}
        for name in ANNOTATIONS:
            study_uid = str(pydicom.dcmread(REAL / name, stop_before_pixels=True).StudyInstanceUID)
            outcomes[name] = _wait(serve.api_port, study_uid)
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{serve.api_port}/metrics", timeout=10
        ).read()
    finally:
        serve.terminate()
    refused = 0
    for name, detail in outcomes.items():
        truth = ANNOTATIONS[name]
        [result] = detail["results"]
        assert detail["state"] != "failed", (name, detail["state_reason"])
        assert result["domain"], f"{name}: no domain score recorded"
        if result["reason_code"] == "outside_domain":
            refused += 1
            assert detail["state"] == "not_analysed"
            assert "image outside the model's training domain" in detail["state_reason"]
            assert result["findings"] == []
            assert any(not d["in_domain"] for d in result["domain"])
            continue
        assert detail["state"] == "analysed", (name, detail["state_reason"])
        assert all(d["in_domain"] for d in result["domain"])
        assert truth["dens_tip"] is not None, f"{name} is not a cervical spine but was analysed"
        [region] = result["regions"]
        assert _holds(region["box"], truth["dens_tip"]), (name, region["box"])
        assert _holds(region["box"], truth["c2_centre"]), (name, region["box"])
        if truth["normal"]:
            assert not [f["label"] for f in result["findings"] if f["present"]], name
    expected = f'cervi_not_analysed_total{{reason="outside_domain"}} {refused}'
    assert (expected in metrics.decode()) or refused == 0
