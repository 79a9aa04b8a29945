"""cervi train / export / evaluate / predict end to end on tiny fake studies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from cervi.cli import main  # noqa: E402
from inference.dataset import split  # noqa: E402
from inference.labels import LABELS, VIEWS  # noqa: E402
from inference.runtime import TEST_TIME_SHIFT_PX  # noqa: E402
from tests.unit.fake_studies import write_studies  # noqa: E402


def test_train_export_evaluate_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_studies(tmp_path / "train", 16, seed=1)
    write_studies(tmp_path / "test", 8, seed=2)
    run, models = tmp_path / "run", tmp_path / "models"
    small = [
        "--spacing",
        "1.0",
        "--crop",
        "32",
        "--roi-input",
        "32",
        "--width",
        "4",
        "--roi-width",
        "4",
    ]
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "train"),
                "--out",
                str(run),
                "--epochs",
                "2",
                "--roi-epochs",
                "1",
                "--threads",
                "1",
                *small,
            ]
        )
        == 0
    )
    assert main(["export", "--run", str(run), "--out", str(models), "--data-seed", "1"]) == 0
    model_args = [
        "--model",
        str(models / "cervihfenet-demo.onnx"),
        "--roi-model",
        str(models / "cervi-roi-demo.onnx"),
    ]
    metrics_file = tmp_path / "eval" / "metrics.json"
    assert (
        main(
            ["evaluate", *model_args, "--data", str(tmp_path / "test"), "--out", str(metrics_file)]
        )
        == 0
    )
    metrics = json.loads(metrics_file.read_text())
    assert {"mean_auc", "mean_ap", "per_label", "roi", "ablation"} <= set(metrics)
    assert set(metrics["per_label"]) == set(LABELS)
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000
    assert metrics["studies"] == 8
    assert {"threshold", "sensitivity", "specificity"} <= set(metrics["per_label"][LABELS[0]])
    assert metrics["test_time_shift_px"] == TEST_TIME_SHIFT_PX
    # runtime settings are chosen on the validation split train held out, with one pass here
    val_file = tmp_path / "eval" / "validation.json"
    validation = [*model_args, "--data", str(tmp_path / "train"), "--out", str(val_file)]
    assert main(["evaluate", *validation, "--validation-of", "0", "--shift-px", "0"]) == 0
    val_metrics = json.loads(val_file.read_text())
    assert val_metrics["studies"] == len(split(16, 0.15, 0)[1]) == 2
    assert val_metrics["test_time_shift_px"] == 0
    # its thresholds go into the exported model; a test set's metrics are refused
    tuned = tmp_path / "tuned"
    export = ["export", "--run", str(run), "--out", str(tuned), "--thresholds-from"]
    with pytest.raises(SystemExit, match="not from 'cervi evaluate --validation-of'"):
        main([*export, str(metrics_file)])
    assert main([*export, str(val_file)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(tuned / "cervihfenet-demo.onnx")).metadata_props}
    thresholds = json.loads(meta["cervi.thresholds"])
    assert thresholds == pytest.approx(val_metrics["youden_thresholds"])
    # and so does the domain gate fitted on the validation views
    assert val_metrics["domain"]["fit"]["views"] == 6
    assert json.loads(meta["cervi.domain"]) == json.loads(val_metrics["domain"]["model"])
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "test"), "--json", *model_args]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 8
    assert all(sorted(line["views_used"]) == sorted(VIEWS) for line in lines)
    assert all(set(line["probabilities"]) == set(LABELS) for line in lines)
    assert all(line["status"] == "analysed" and line["domain"] == {} for line in lines)
    # with the gate: a distance and a decision per view, and no probabilities past a refusal
    tuned_args = ["--model", str(tuned / "cervihfenet-demo.onnx"), "--roi-model", model_args[3]]
    assert main(["predict", str(tmp_path / "test"), "--json", *tuned_args]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for line in lines:
        assert set(line["domain"]) == set(VIEWS)
        refused = [v for v, d in line["domain"].items() if d["distance"] > d["threshold"]]
        assert [v for v, d in line["domain"].items() if not d["in_domain"]] == refused
        assert line["status"] == ("not_analysed" if refused else "analysed")
        assert ("probabilities" in line) == (not refused)
