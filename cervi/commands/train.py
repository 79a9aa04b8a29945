"""``cervi train``: train the ROI network and CerviHFENet on labelled studies (needs torch)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the ROI network and CerviHFENet (needs the 'train' extra)"
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="labelled studies (cervi synth layout)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder for checkpoints and logs"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, init and batches")
    parser.add_argument("--epochs", type=int, default=40, help="classifier epochs (at most)")
    parser.add_argument("--roi-epochs", type=int, default=20, help="ROI network epochs")
    parser.add_argument("--patience", type=int, default=10, help="early stop after N flat epochs")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--width", type=int, default=16, help="classifier encoder width")
    parser.add_argument("--roi-width", type=int, default=12, help="ROI network width")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--spacing", type=float, default=0.75, help="input spacing, mm/pixel")
    parser.add_argument("--crop", type=int, default=128, help="classifier crop side, pixels")
    parser.add_argument("--roi-input", type=int, default=128, help="ROI network input side")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--relation-weight", type=float, default=0.5, help="loss relation penalty")
    parser.add_argument("--focal-gamma", type=float, default=2.0)
    parser.add_argument(
        "--stage",
        choices=("all", "roi", "classifier"),
        default="all",
        help="train one network only (the two can train in two processes at once)",
    )
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from inference.roi import Geometry
    from inference.train import STAGES, TrainConfig, train

    config = TrainConfig(
        geometry=Geometry(spacing_mm=args.spacing, roi_input=args.roi_input, crop_px=args.crop),
        seed=args.seed,
        threads=args.threads,
        epochs=args.epochs,
        roi_epochs=args.roi_epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        width=args.width,
        roi_width=args.roi_width,
        val_fraction=args.val_fraction,
        relation_weight=args.relation_weight,
        focal_gamma=args.focal_gamma,
    )
    recipe = "cervi " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train"] else ""
    stages = STAGES if args.stage == "all" else (args.stage,)
    summary = train(args.data, args.out, config, lambda line: print(line, flush=True), stages)
    _record_recipe(args.out / "recipe.txt", recipe, replace=args.stage == "all")
    if "validation" in summary:
        val = summary["validation"]
        print(
            f"classifier: validation mean AUC {val['mean_auc']:.4f}, mean AP {val['mean_ap']:.4f}"
        )
    if "roi_validation" in summary:
        share = summary["roi_validation"]["iou_ge_0_7"]
        print(f"ROI network: validation box IoU >= 0.7 on {share:.3f} of views")
    print(f"done in {summary['seconds']:.0f} s; checkpoints in {args.out}")
    return 0


def _record_recipe(path: Path, recipe: str, replace: bool) -> None:
    """Keep the command lines that made the run (one per stage when trained stage by stage)."""
    lines = [] if replace or not path.is_file() else path.read_text(encoding="utf-8").splitlines()
    if recipe and recipe not in lines:
        lines.append(recipe)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
