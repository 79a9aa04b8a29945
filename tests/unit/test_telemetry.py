"""The service sends nothing home: loading the models and analysing a study leaves onnxruntime's
telemetry store (~/.cache/Microsoft/DeveloperTools/.onnxruntime) unwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from cervi.pipeline import ModelAnalyser
from cervi.settings import InferenceSettings
from inference.phantom import SynthOptions, generate_study

study = generate_study(seed=3, index=0, options=SynthOptions(scale=0.5))
by_file = dict(zip(study.files, study.datasets))
views = {view: by_file[name] for view, name in study.truth["files"].items()}
ModelAnalyser(InferenceSettings()).predict(views)
print("analysed")
"""


def test_onnxruntime_writes_no_telemetry(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME"}
    }
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "analysed"
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*")] == []
