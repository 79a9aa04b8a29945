"""Ingest benchmark: DCMTK storescu sends 200 synthetic 512x512 16-bit DX instances to Cervi,
Orthanc and DCMTK storescp in the same run, over one association and then over 4 concurrent
ones. Prints instances/s for each peer and the ratios Cervi/Orthanc and Cervi/storescp.

Cervi acknowledges only durable writes (file fsynced, row committed); Orthanc and storescp are
run with their defaults. A pynetdicom SCP that stores nothing shows the ceiling of the library.

Run: ``.venv/bin/python bench/ingest.py [--instances 200] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cervi.demo.orthanc import Orthanc  # noqa: E402
from tests.support.dicom import make_dx, write  # noqa: E402
from tests.support.net import free_port, wait_for_port  # noqa: E402
from tests.support.service import ServeProcess  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def make_instances(folder: Path, count: int) -> list[Path]:
    study = make_dx(size=8)
    return [
        write(
            make_dx(
                size=512,
                seed=i,
                study_uid=study.StudyInstanceUID,
                series_uid=study.SeriesInstanceUID,
            ),
            folder / f"{i:04d}.dcm",
        )
        for i in range(count)
    ]


def send(port: int, called: str, files: list[Path], associations: int) -> float:
    """Seconds for ``associations`` parallel storescu runs to send ``files`` between them."""
    chunks = [files[i::associations] for i in range(associations)]
    start = time.perf_counter()
    senders = [
        subprocess.Popen(
            ["storescu", "-aec", called, "127.0.0.1", str(port), *map(str, chunk)],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for chunk in chunks
    ]
    for sender in senders:
        _, err = sender.communicate()
        if sender.returncode != 0:
            raise RuntimeError(f"storescu failed: {err.decode(errors='replace')[-500:]}")
    return time.perf_counter() - start


@contextmanager
def cervi_peer(folder: Path) -> Iterator[tuple[int, str]]:
    database = f"sqlite:///{folder / 'cervi.db'}"
    cervi = ServeProcess(folder, database, {"logging": {"level": "WARNING"}}).start()
    try:
        yield cervi.port, "CERVI"
    finally:
        cervi.terminate()


@contextmanager
def orthanc_peer(folder: Path) -> Iterator[tuple[int, str]]:
    orthanc = Orthanc(folder).start()
    try:
        yield orthanc.dicom_port, "ORTHANC"
    finally:
        orthanc.stop()


@contextmanager
def storescp_peer(folder: Path) -> Iterator[tuple[int, str]]:
    port = free_port()
    folder.mkdir(parents=True)
    process = subprocess.Popen(
        ["storescp", "-od", str(folder), "-aet", "STORESCP", str(port)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    try:
        yield port, "STORESCP"
    finally:
        process.terminate()
        process.wait()


@contextmanager
def noop_peer(folder: Path) -> Iterator[tuple[int, str]]:
    port = free_port()
    script = Path(__file__).with_name("_noop_scp.py")
    process = subprocess.Popen([sys.executable, str(script), str(port)])
    wait_for_port(port)
    try:
        yield port, "NOOP"
    finally:
        process.terminate()
        process.wait()


PEERS: dict[str, Callable[[Path], contextmanager]] = {
    "cervi": cervi_peer,
    "orthanc": orthanc_peer,
    "storescp": storescp_peer,
    "pynetdicom-noop": noop_peer,  # stores nothing: the ceiling of the library Cervi uses
}


def measure(files: list[Path], workdir: Path, repeats: int) -> dict[tuple[str, int], float]:
    """Median instances/s per (peer, associations); each repeat starts each peer afresh."""
    rates: dict[tuple[str, int], list[float]] = {}
    for repeat in range(repeats):
        for name, peer in PEERS.items():
            for associations in (1, 4):
                with peer(workdir / f"{name}-{associations}-{repeat}") as (port, called):
                    seconds = send(port, called, files, associations)
                rates.setdefault((name, associations), []).append(len(files) / seconds)
    return {key: statistics.median(values) for key, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cervi-bench-") as tmp:
        workdir = Path(tmp)
        files = make_instances(workdir / "send", args.instances)
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        print(
            f"{len(files)} DX instances, 512x512x16 bit, {size_mb:.0f} MiB,",
            f"median of {args.repeats} runs",
        )
        rates = measure(files, workdir, args.repeats)
    print(f"{'peer':16} {'1 assoc inst/s':>15} {'4 assoc inst/s':>15}")
    for name in PEERS:
        print(f"{name:16} {rates[(name, 1)]:15.1f} {rates[(name, 4)]:15.1f}")
    for peer in ("orthanc", "storescp", "pynetdicom-noop"):
        ratios = [rates[("cervi", n)] / rates[(peer, n)] for n in (1, 4)]
        print(f"{'cervi/' + peer:22} {ratios[0]:9.2f}x {ratios[1]:14.2f}x")


if __name__ == "__main__":
    main()
