"""``cervi demo``: Orthanc, Cervi and a phantom study, end to end, in one command."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cervi.cli import main
from cervi.demo.viewer import default_dist
from tests.conftest import IN_CI, require_tool


def test_demo_prints_what_the_pacs_received(capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("Orthanc")
    assert main(["demo", "--studies", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    table = out.split("What the PACS received", 1)[1].splitlines()
    assert table[1].split()[:4] == ["STUDY", "PHANTOM", "TRUTH", "CERVI"]
    assert len(table) == 3 and "no SR received" not in table[2]


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children |= {int(c) for c in (task / "children").read_text().split()}
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_demo_viewer_stops_its_orthanc_on_sigterm(tmp_path: Path) -> None:
    require_tool("Orthanc")
    if not (default_dist() / "index.html").is_file():
        message = "OHIF is not set up: run `make viewer-deps`"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cervi",
            "demo",
            "--viewer",
            "--studies",
            "1",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CERVI_")},
    )
    try:
        assert demo.stdout is not None
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Open in a browser"):
                break
        assert lines and lines[-1].startswith("Open in a browser"), "".join(lines)
        orthanc = [
            pid
            for pid in _children(demo.pid)
            if "Orthanc" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(orthanc) == 1
        port = int(re.search(r"Orthanc \(the PACS\) at http://127.0.0.1:(\d+)", "".join(lines))[1])
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err[-2000:]
    assert "Traceback" not in err and err.rstrip().endswith("cervi demo: stopped")
    deadline = time.monotonic() + 5
    while _alive(orthanc[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(orthanc[0]), "Orthanc outlived the demo"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
