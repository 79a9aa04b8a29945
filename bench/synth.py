"""Benchmark ``cervi synth``: full-size phantom studies (3 views, DICOM + truth.json) on two
worker processes, against a peer measured in the same run: the same generator in one process
without writing files. Prints studies/s and the projected time for 1,000 studies.

    python bench/synth.py --studies 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# The repository first: bench/inference.py must not hide the inference package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.phantom import generate_study  # noqa: E402
from inference.phantom.dataset import synthesize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--peer-studies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    start = time.perf_counter()
    for i in range(args.peer_studies):
        generate_study(args.seed + 1, i)
    peer = args.peer_studies / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="cervi-bench-") as tmp:
        before = os.times()
        start = time.perf_counter()
        synthesize(Path(tmp), args.studies, args.seed, workers=args.workers)
        elapsed = time.perf_counter() - start
        after = os.times()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.dcm"))
    cpu = sum(after[k] - before[k] for k in range(4))  # own + finished children, user + sys
    rate = args.studies / elapsed
    print(
        f"synthesize, {args.workers} workers: {args.studies} studies in {elapsed:.1f} s "
        f"= {rate:.2f} studies/s ({size / args.studies / 1e6:.1f} MB/study on disk)"
    )
    print(f"peer, 1 process, no files:   {peer:.2f} studies/s")
    print(f"ratio synthesize/peer:       {rate / peer:.2f}")
    print(f"projected 1,000 studies:     {1000 / rate / 60:.1f} min (target < 10 min)")
    per_study = cpu / args.studies
    print(
        f"CPU per study:               {per_study:.2f} s "
        f"(on 2 idle cores: {1000 * per_study / 2 / 60:.1f} min per 1,000 studies)"
    )
    print(f"load average (1 min):        {os.getloadavg()[0]:.1f} (the machine is shared)")


if __name__ == "__main__":
    main()
