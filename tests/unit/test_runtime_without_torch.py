"""The running service needs onnxruntime, not torch (README, "The model"): everything
`cervi serve` loads imports and analyses a study with torch made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"

SCRIPT = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import cervi.api, cervi.bootstrap, cervi.commands.serve, cervi.pipeline
from cervi.pipeline import ModelAnalyser
from cervi.settings import InferenceSettings
from inference.phantom import SynthOptions, generate_study

study = generate_study(seed=3, index=0, options=SynthOptions(scale=0.5))
by_file = dict(zip(study.files, study.datasets))
views = {view: by_file[name] for view, name in study.truth["files"].items()}
prediction = ModelAnalyser(InferenceSettings()).predict(views)
assert len(prediction.labels) == 6 and set(prediction.regions) == set(views)
print("ok", "torch" in sys.modules and sys.modules["torch"] is None)
"""


def test_the_service_and_the_runtime_run_without_torch() -> None:
    if not (MODELS / "cervihfenet-demo.onnx").is_file():
        pytest.fail("the shipped model is missing from models/")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok True"
