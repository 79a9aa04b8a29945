"""The shipped demo model on freshly generated phantoms (issue 5: mean AUC >= 0.90 on 60 studies).

Needs the phantom generator (``inference.phantom``) and ``models/*.onnx``; takes a few minutes on
two cores, most of it generating the studies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"
CLASSIFIER = MODELS / "cervihfenet-demo.onnx"
ROI = MODELS / "cervi-roi-demo.onnx"


@pytest.mark.skipif(not CLASSIFIER.is_file() or not ROI.is_file(), reason="no shipped model")
def test_shipped_model_on_60_fresh_studies(tmp_path: Path) -> None:
    phantom = pytest.importorskip("inference.phantom.dataset")
    from inference.evaluate import evaluate
    from inference.runtime import CerviRuntime

    phantom.synthesize(tmp_path, 60, seed=9_000, workers=2)
    metrics, _ = evaluate(CerviRuntime(CLASSIFIER, ROI, threads=2), tmp_path, ablation=False)
    assert metrics["studies"] == 60
    assert metrics["mean_auc"] >= 0.90
    assert metrics["roi"]["fraction_iou_ge_0_7"] >= 0.9
