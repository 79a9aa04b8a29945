"""Memory under an oversize-PDU attack: peers declare an A-ASSOCIATE-RQ of 0xFFFFFFF0 bytes and
stream into it. Measured in the same run against plain pynetdicom (bench/_noop_scp.py), which
reads the declared length into memory, and against Cervi (``cervi serve``), which refuses the PDU
before reading its body. Prints each listener's peak RSS growth and the ratio Cervi/pynetdicom.

Run: ``.venv/bin/python bench/hostile_memory.py [--connections 3] [--mib 128]``.
"""

from __future__ import annotations

import argparse
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.net import free_port, wait_for_port  # noqa: E402
from tests.support.service import ServeProcess  # noqa: E402

CHUNK = b"\x00" * 65536


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def attack(port: int, mib: int) -> int:
    """Declare a huge PDU and stream ``mib`` MiB into it; return the MiB the listener took."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(struct.pack(">BBL", 0x01, 0, 0xFFFFFFF0))
            while sent < mib * 16:
                sock.sendall(CHUNK)
                sent += 1
        except OSError:
            pass
    return sent // 16


def measure(pid: int, port: int, connections: int, mib: int) -> tuple[float, list[int]]:
    """Peak RSS growth (MiB) while ``connections`` attackers stream at once."""
    baseline = rss_mib(pid)
    peak = baseline
    taken: list[int] = []
    threads = [
        threading.Thread(target=lambda: taken.append(attack(port, mib))) for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mib(pid))
        time.sleep(0.05)
    time.sleep(1)
    peak = max(peak, rss_mib(pid))
    return peak - baseline, taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=3)
    parser.add_argument("--mib", type=int, default=128, help="MiB each attacker streams")
    args = parser.parse_args()

    port = free_port()
    plain = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_noop_scp.py")), str(port)]
    )
    try:
        wait_for_port(port)
        time.sleep(1)
        plain_growth, plain_taken = measure(plain.pid, port, args.connections, args.mib)
    finally:
        plain.kill()
        plain.wait()

    with tempfile.TemporaryDirectory() as folder:
        cervi = ServeProcess(Path(folder), f"sqlite:///{folder}/cervi.db").start()
        try:
            assert cervi.process is not None
            time.sleep(1)
            cervi_growth, cervi_taken = measure(
                cervi.process.pid, cervi.port, args.connections, args.mib
            )
        finally:
            cervi.terminate()

    print(f"{args.connections} attackers x {args.mib} MiB into a PDU declared 0xFFFFFFF0")
    print(f"pynetdicom (plain): peak RSS +{plain_growth:7.1f} MiB, took {plain_taken} MiB")
    print(f"cervi serve:        peak RSS +{cervi_growth:7.1f} MiB, took {cervi_taken} MiB")
    print(f"ratio cervi/pynetdicom: {cervi_growth / max(plain_growth, 1e-9):.3f}")


if __name__ == "__main__":
    main()
