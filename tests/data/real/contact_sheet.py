"""The real films through the runtime: the ROI figure, the gate's answers, and a contact sheet.

Usage (from the repository root): ``python tests/data/real/contact_sheet.py --model M
--roi-model R --out models/real-films.png``.
For each film in ``landmarks.json``: the ROI network's box (yellow) and six landmarks (cyan),
the hand-annotated dens tip (red) and C2 centre (green), and the domain gate's distance and
decision. Prints one line per film and the fraction of cervical films whose box holds both
annotated points.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw

from inference.runtime import CerviRuntime

HERE = Path(__file__).resolve().parent
TILE = 360


def _holds(box: tuple[float, ...], point: list[float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/cervihfenet-demo.onnx"))
    parser.add_argument("--roi-model", type=Path, default=Path("models/cervi-roi-demo.onnx"))
    parser.add_argument("--out", type=Path, default=Path("models/real-films.png"))
    args = parser.parse_args()
    runtime = CerviRuntime(args.model, args.roi_model, threads=2)
    annotations = {
        k: v for k, v in json.loads((HERE / "landmarks.json").read_text()).items() if k[0] != "_"
    }
    tiles, held, cervical = [], 0, 0
    for name, truth in annotations.items():
        ds = pydicom.dcmread(HERE / name)
        prediction = runtime.analyse_datasets({"neutral": ds})
        region, score = prediction.regions["neutral"], prediction.domain.get("neutral")
        pixels = ds.pixel_array.astype(np.float64)
        grey = (255 * (pixels - pixels.min()) / max(np.ptp(pixels), 1)).astype(np.uint8)
        scale = TILE / max(grey.shape)
        image = Image.fromarray(grey).convert("RGB")
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        draw = ImageDraw.Draw(image)
        draw.rectangle([v * scale for v in region.box], outline=(255, 220, 0), width=2)
        for x, y in region.landmarks.values():
            draw.ellipse(
                [x * scale - 2, y * scale - 2, x * scale + 2, y * scale + 2], fill=(0, 220, 255)
            )
        holds = None
        if truth["dens_tip"] is not None:
            cervical += 1
            holds = _holds(region.box, truth["dens_tip"]) and _holds(region.box, truth["c2_centre"])
            held += bool(holds)
            for key, colour in (("dens_tip", (255, 40, 40)), ("c2_centre", (40, 255, 40))):
                x, y = (v * scale for v in truth[key])
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=colour, width=2)
        decision = "no gate" if score is None else "in domain" if score.in_domain else "REFUSED"
        distance = "" if score is None else f" d={score.distance:.1f}/{score.threshold:.2f}"
        draw.rectangle([0, 0, image.width, 16], fill=(0, 0, 0))
        draw.text((3, 2), f"{name}: {decision}{distance}", fill=(255, 255, 255))
        tiles.append(image)
        parts = {} if score is None else {k: round(v, 2) for k, v in score.parts.items()}
        print(f"{name}: {decision}{distance} {parts} box holds both points: {holds}")
    sheet = Image.new("RGB", (TILE * len(tiles), TILE), (32, 32, 32))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * TILE, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"ROI box holds the dens tip and the C2 centre on {held} of {cervical} cervical films")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
