"""``cervi evaluate``: metrics of exported models on labelled studies, through the runtime."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from cervi.cli import add_model_options, open_runtime


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a model on labelled studies")
    parser.add_argument(
        "--data", type=Path, required=True, help="labelled studies (cervi synth layout)"
    )
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument(
        "--plots",
        type=Path,
        default=None,
        help="folder for roc.png and pr.png (default: beside --out)",
    )
    parser.add_argument(
        "--no-ablation", action="store_true", help="skip the dynamic-branch ablation"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the view shuffling")
    parser.add_argument(
        "--validation-of",
        type=int,
        default=None,
        metavar="SEED",
        help="only the validation studies that 'cervi train --seed SEED' held out of --data "
        "(to choose runtime settings without touching the test set)",
    )
    parser.add_argument(
        "--val-fraction", type=float, default=0.15, help="as given to 'cervi train'"
    )
    parser.add_argument(
        "--fit-domain",
        action="store_true",
        help="fit the domain gate on these studies (implied by --validation-of; never give it "
        "with a test set)",
    )
    parser.add_argument(
        "--shift-px",
        type=int,
        default=None,
        help="test-time shift of the crops in pixels, 0 for one pass (default: the runtime's)",
    )
    add_model_options(parser)
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from inference.dataset import find_studies, split
    from inference.evaluate import evaluate, write_curves

    only = None
    if args.validation_of is not None:
        n = len(find_studies(args.data))
        only = split(n, args.val_fraction, args.validation_of)[1].tolist()
    runtime = open_runtime(args, args.shift_px)
    metrics, arrays = evaluate(
        runtime,
        args.data,
        ablation=not args.no_ablation,
        seed=args.seed,
        only=only,
        fit_domain_gate=args.fit_domain or only is not None,
    )
    if only is not None:  # 'cervi export --thresholds-from' takes thresholds only from such a file
        metrics["validation_of"] = {"seed": args.validation_of, "val_fraction": args.val_fraction}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite(metrics), indent=2) + "\n", encoding="utf-8")
    try:
        plots = write_curves(arrays, runtime.labels, args.plots or args.out.parent)
    except ImportError:
        plots = []
        print("matplotlib is not installed: no ROC/PR plots (install the 'train' extra)")
    print(
        f"{metrics['studies']} studies: mean AUC {metrics['mean_auc']:.4f}, "
        f"mean AP {metrics['mean_ap']:.4f}, "
        f"ROI IoU>=0.7 {metrics['roi']['fraction_iou_ge_0_7']:.3f}"
    )
    for name, values in metrics["per_label"].items():
        print(
            f"  {name:26s} AUC {values['auc']:.4f} AP {values['ap']:.4f} (+{values['positives']})"
            f"  at {values['threshold']:.2f}: sensitivity {values['sensitivity']:.3f}"
            f" specificity {values['specificity']:.3f}"
        )
    for name, error in metrics.get("measurements", {}).items():
        target = ""
        if "target" in error:
            target = f"  (target {error['target']}: {'met' if error['met'] else 'NOT met'})"
        print(
            f"  {name:32s} MAE {error['mae']:.2f} {error['unit']}, p95 {error['p95']:.2f}"
            f" (n={error['n']}){target}"
        )
    domain = metrics["domain"]
    if "pass_rate" in domain:
        print(
            f"  domain gate: {domain['pass_rate']:.4f} of {domain['views']} views pass "
            f"({domain['refused']} refused)"
        )
    if "fit" in domain:
        fit = domain["fit"]
        print(
            f"  domain gate fitted on {fit['views']} views: threshold {fit['threshold']:.3f}, "
            f"out-of-fold pass rate {fit['out_of_fold_pass_rate']:.4f}"
        )
    ablation = metrics.get("ablation")
    if ablation:
        print(
            "  instability AUC drop: neutral only "
            f"{ablation['instability_auc_drop_neutral_only']:.4f}, "
            f"shuffled views {ablation['instability_auc_drop_shuffled']:.4f}"
        )
    print(f"wrote {args.out}" + "".join(f", {p}" for p in plots))
    return 0


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined metrics (a label without positives) become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
