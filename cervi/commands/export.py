"""``cervi export``: write a training run's networks as ONNX files with their metadata."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a training run to ONNX (needs torch)")
    parser.add_argument("--run", type=Path, help="run folder of 'cervi train'")
    parser.add_argument("--out", type=Path, default=Path("models"), help="folder for the files")
    parser.add_argument("--name", default="cervihfenet-demo", help="classifier file stem")
    parser.add_argument("--roi-name", default="cervi-roi-demo", help="ROI network file stem")
    parser.add_argument("--version", default=None, help="model version (default: cervi's)")
    parser.add_argument("--data-seed", type=int, default=None, help="seed of the training data")
    parser.add_argument(
        "--metrics", type=Path, default=None, help="metrics JSON to embed (default: validation)"
    )
    parser.add_argument(
        "--thresholds-from",
        type=Path,
        default=None,
        metavar="METRICS",
        help="metrics JSON of 'cervi evaluate --validation-of': its Youden thresholds, taken "
        "through the runtime (test-time shifts included), replace the training run's single-pass "
        "ones",
    )
    parser.add_argument(
        "--domain-from",
        type=Path,
        default=None,
        metavar="METRICS",
        help="metrics JSON of 'cervi evaluate --validation-of' (or --fit-domain on validation "
        "studies): the domain gate fitted there goes into the classifier (default: "
        "--thresholds-from's, if it has one)",
    )
    parser.add_argument(
        "--set-domain",
        type=Path,
        default=None,
        metavar="CLASSIFIER",
        help="instead of exporting a run: write --domain-from's gate (and --version) into this "
        "exported classifier file, weights untouched",
    )
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    import numpy as np

    from inference.export import ExportInfo, export_classifier, export_roi, parity, set_domain
    from inference.train import TrainConfig, load_checkpoint

    domain_file = args.domain_from or args.thresholds_from
    domain = _domain(domain_file, required=args.domain_from is not None) if domain_file else None
    if args.set_domain is not None:
        if domain is None:
            raise SystemExit("cervi export --set-domain: give --domain-from METRICS")
        print(f"{set_domain(args.set_domain, domain, args.version)}: domain gate written")
        return 0
    if args.run is None:
        raise SystemExit("cervi export: give --run RUN (or --set-domain CLASSIFIER)")

    classifier, checkpoint = load_checkpoint(args.run / "classifier.pt")
    roi, roi_checkpoint = load_checkpoint(args.run / "roi.pt")
    config = TrainConfig.from_dict(checkpoint["config"])
    recipe_file = args.run / "recipe.txt"
    metrics = checkpoint["metrics"]
    if args.metrics is not None:
        metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
    thresholds = checkpoint["metrics"].get("thresholds", {})
    if args.thresholds_from is not None:
        thresholds = _validation_thresholds(args.thresholds_from, checkpoint["labels"])
        metrics = {**metrics, "thresholds_from": args.thresholds_from.name}
    info = ExportInfo(
        version=args.version or _package_version(),
        geometry=config.geometry,
        labels=tuple(checkpoint["labels"]),
        thresholds=thresholds,
        recipe=" && ".join(recipe_file.read_text(encoding="utf-8").split("\n")).strip(" &")
        if recipe_file.is_file()
        else "",
        data_seed=args.data_seed,
        train_config=config.to_dict(),
        metrics={"classifier": metrics, "roi_validation": roi_checkpoint["metrics"]},
        domain=domain,
    )
    c_path = export_classifier(classifier, args.out / f"{args.name}.onnx", info)
    r_path = export_roi(roi, args.out / f"{args.roi_name}.onnx", info)
    rng = np.random.default_rng(0)
    g = config.geometry
    views = rng.random((2, 3, 1, g.crop_px, g.crop_px), dtype=np.float32)
    mask = np.array([[1, 1, 1], [0, 1, 1]], np.float32)
    image = rng.random((2, 1, g.roi_input, g.roi_input), dtype=np.float32)
    diffs = (
        parity(classifier, c_path, {"views": views, "mask": mask}),
        parity(roi, r_path, {"image": image}),
    )
    for path, diff in zip((c_path, r_path), diffs, strict=True):
        print(
            f"{path} ({path.stat().st_size / 1e6:.2f} MB), "
            f"torch vs onnxruntime max |diff| {diff:.2e}"
        )
    return 0 if max(diffs) < 1e-4 else 1


def _validation_thresholds(path: Path, labels: list[str]) -> dict[str, float]:
    """The Youden thresholds of a validation-split metrics file; a test set's are refused."""
    metrics = json.loads(path.read_text(encoding="utf-8"))
    if "validation_of" not in metrics:
        raise SystemExit(
            f"cervi export: {path} is not from 'cervi evaluate --validation-of': thresholds "
            "chosen on any other studies (a test set) would make its metrics optimistic"
        )
    found = metrics.get("youden_thresholds") or {}
    missing = [k for k in labels if found.get(k) is None]
    if missing:
        raise SystemExit(f"cervi export: {path} has no threshold for {', '.join(missing)}")
    return {k: float(found[k]) for k in labels}


def _domain(path: Path, required: bool) -> str | None:
    """The domain gate fitted in a metrics file (JSON), or None when it has none and none was
    asked for."""
    metrics = json.loads(path.read_text(encoding="utf-8"))
    model = metrics.get("domain", {}).get("model")
    if model is None and required:
        raise SystemExit(
            f"cervi export: {path} has no fitted domain gate (run 'cervi evaluate "
            "--validation-of SEED' or '--fit-domain' on validation studies)"
        )
    return model


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cervi")
    except PackageNotFoundError:
        return "0.0.0"
