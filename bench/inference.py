"""Inference speed: ROI + classifier for one 3-view study, onnxruntime vs torch eager, same run.

    python bench/inference.py --models models --run runs/demo --data DIR [--repeats 30]

Both backends go through the same ``CerviRuntime.analyse`` code (letterbox, ROI network, crops,
classifier); only the sessions differ. Preprocessing (DICOM decode and resampling) is excluded:
it is the same numpy code for both. Prints the median milliseconds per study and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``inference`` package: drop it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import torch  # noqa: E402

from inference.dataset import find_studies  # noqa: E402
from inference.export import _WithProbabilities  # noqa: E402
from inference.runtime import CerviRuntime  # noqa: E402
from inference.train import load_checkpoint  # noqa: E402


class TorchSession:
    """The ``run(None, feeds)`` interface of an onnxruntime session, backed by a torch module."""

    def __init__(self, net: torch.nn.Module, inputs: list[str]) -> None:
        self.net = net.eval()
        self.inputs = inputs

    def run(self, _outputs: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = self.net(*(torch.from_numpy(feeds[name]) for name in self.inputs))
        return [o.numpy() for o in out]


def median_ms(runtime: CerviRuntime, studies: list[dict], repeats: int) -> float:
    for images in studies[:2]:  # warm up
        runtime.analyse(images)
    times = []
    for i in range(repeats):
        images = studies[i % len(studies)]
        started = time.perf_counter()
        runtime.analyse(images)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--classifier", default="cervihfenet-demo.onnx")
    parser.add_argument("--roi", default="cervi-roi-demo.onnx")
    parser.add_argument("--run", type=Path, required=True, help="training run with the .pt files")
    parser.add_argument("--data", type=Path, required=True, help="studies (cervi synth layout)")
    parser.add_argument("--studies", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    onnx_rt = CerviRuntime(args.models / args.classifier, args.models / args.roi, args.threads)
    torch_rt = copy.copy(onnx_rt)
    classifier, _ = load_checkpoint(args.run / "classifier.pt")
    roi, _ = load_checkpoint(args.run / "roi.pt")
    torch_rt._classifier = TorchSession(_WithProbabilities(classifier), ["views", "mask"])
    torch_rt._roi = TorchSession(roi, ["image"])

    studies = [
        {v: onnx_rt.preprocess(pydicom.dcmread(p)) for v, p in record.files.items()}
        for record in find_studies(args.data)[: args.studies]
    ]
    ort_ms = median_ms(onnx_rt, studies, args.repeats)
    torch_ms = median_ms(torch_rt, studies, args.repeats)
    size_mb = sum((args.models / f).stat().st_size for f in (args.classifier, args.roi)) / 1e6
    print(f"ROI + classifier, one 3-view study, {args.threads} threads, median of {args.repeats}:")
    print(f"  onnxruntime  {ort_ms:8.1f} ms")
    print(f"  torch eager  {torch_ms:8.1f} ms")
    print(f"  ratio torch / onnxruntime: {torch_ms / ort_ms:.2f}x; model files {size_mb:.2f} MB")


if __name__ == "__main__":
    main()
