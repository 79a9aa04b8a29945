"""The OHIF viewer tier's tools: where set-up put OHIF and puppeteer-core, the driver, pixels.

``tests/viewer/setup.sh`` (``make viewer-deps``) fills the cache; :func:`run_driver` runs
``ohif_driver.mjs`` in node and returns what it saw; :func:`edge_offsets` measures, in a
screenshot, how far a rectangle's outline lies from where it is expected.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from cervi.demo.viewer import OHIF_VERSION, default_dist, viewer_cache

DRIVER = Path(__file__).with_name("ohif_driver.mjs")
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class ViewerDeps:
    dist: Path  # OHIF's prebuilt dist/ (index.html, bundles)
    puppeteer: Path  # the puppeteer-core package folder
    chromium: Path

    @classmethod
    def find(cls) -> ViewerDeps:
        return cls(
            dist=default_dist(),
            puppeteer=viewer_cache() / "node_modules" / "puppeteer-core",
            chromium=CHROMIUM,
        )

    def missing(self) -> list[str]:
        checks = {
            f"OHIF {OHIF_VERSION} dist": self.dist / "index.html",
            "puppeteer-core": self.puppeteer / "package.json",
            "chromium": self.chromium,
        }
        return [name for name, path in checks.items() if not path.exists()]


def run_driver(
    deps: ViewerDeps,
    url: str,
    targets: list[dict[str, Any]],
    out_dir: Path,
    *,
    node: str = "node",
    timeout_s: float = 90.0,
    window: tuple[int, int] = (1280, 800),
) -> dict[str, Any]:
    """Open ``url`` in chromium through ``ohif_driver.mjs``; its JSON answer (see the driver)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    job = {
        "url": url,
        "outDir": str(out_dir),
        "puppeteer": str(deps.puppeteer),
        "chromium": str(deps.chromium),
        "timeoutMs": int(timeout_s * 1000 * 0.8),
        "width": window[0],
        "height": window[1],
        "targets": targets,
    }
    job_file = out_dir / "job.json"
    job_file.write_text(json.dumps(job, indent=2))
    run = subprocess.run(
        [node, str(DRIVER), str(job_file)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    (out_dir / "driver.log").write_text(run.stderr)
    lines = run.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the OHIF driver printed nothing (rc {run.returncode}): {run.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    (out_dir / "result.json").write_text(json.dumps(result, indent=2))
    return result


def load_rgb(path: Path) -> NDArray[np.int16]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def annotation_mask(rgb: NDArray[np.int16]) -> NDArray[np.bool_]:
    """Pixels in a saturated colour: OHIF's SR outlines and labels (the images are grey)."""
    return (rgb.max(axis=2) - rgb.min(axis=2) >= 100) & (rgb.max(axis=2) >= 150)


def white_mask(rgb: NDArray[np.int16]) -> NDArray[np.bool_]:
    """Near-white grey pixels: the outline burned into the test images' pixel data."""
    return (rgb.min(axis=2) >= 215) & (rgb.max(axis=2) - rgb.min(axis=2) <= 30)


def edge_offsets(
    mask: NDArray[np.bool_],
    points: list[list[float]],
    search: int = 12,
    hidden: NDArray[np.bool_] | None = None,
) -> dict[str, tuple[int, float]]:
    """For each edge of the axis-aligned rectangle through ``points`` (page pixels): the shift,
    across the edge, at which ``mask`` covers most of it, and that coverage (0..1).

    Coverage at a shift counts the edge's pixels (corners left out) that have a masked pixel
    within one pixel across the edge, so a dashed line of 4 on, 4 off covers about half. Pixels
    where ``hidden`` is set (under a label box) count neither way.
    """
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    margin_x = min(8.0, (right - left) / 4)
    margin_y = min(8.0, (bottom - top) / 4)
    cols = np.arange(round(left + margin_x), round(right - margin_x))
    rows = np.arange(round(top + margin_y), round(bottom - margin_y))
    height, width = mask.shape

    unseen = hidden if hidden is not None else np.zeros_like(mask)

    def coverage_h(y: int) -> float:
        band = mask[max(y - 1, 0) : min(y + 2, height), :][:, cols]
        seen = ~unseen[max(y - 1, 0) : min(y + 2, height), :][:, cols].any(axis=0)
        return float(band.any(axis=0)[seen].mean()) if band.size and seen.any() else 0.0

    def coverage_v(x: int) -> float:
        band = mask[:, max(x - 1, 0) : min(x + 2, width)][rows, :]
        seen = ~unseen[:, max(x - 1, 0) : min(x + 2, width)][rows, :].any(axis=1)
        return float(band.any(axis=1)[seen].mean()) if band.size and seen.any() else 0.0

    found = {}
    for name, at, coverage in (
        ("top", top, coverage_h),
        ("bottom", bottom, coverage_h),
        ("left", left, coverage_v),
        ("right", right, coverage_v),
    ):
        scores = {d: coverage(round(at) + d) for d in range(-search, search + 1)}
        best = max(scores, key=lambda d: (scores[d], -abs(d)))
        found[name] = (best, scores[best])
    return found
