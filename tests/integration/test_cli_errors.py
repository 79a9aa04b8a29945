"""Common mistakes at the command line end in one line naming the cause and a non-zero status,
never a traceback or a silent success: a busy port, a missing model, a missing or empty folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cervi.cli import main
from tests.support.dicom import make_dx, write
from tests.support.net import free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another process holds."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _serve(tmp_path: Path, node_port: int, api_port: int) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cervi.yaml"
    settings = {
        "node": {"host": "127.0.0.1", "port": node_port},
        "storage": {"database_url": "sqlite:///cervi.db", "instance_dir": "instances"},
        "api": {"port": api_port},
        "inference": {
            "model": str(Path("models/cervihfenet-demo.onnx").resolve()),
            "roi_model": str(Path("models/cervi-roi-demo.onnx").resolve()),
        },
    }
    config.write_text(yaml.safe_dump(settings))
    return subprocess.run(
        [sys.executable, "-m", "cervi", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("CERVI_")},
    )


def test_serve_on_a_busy_http_port(tmp_path: Path, busy_port: int) -> None:
    done = _serve(tmp_path, free_port(), busy_port)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (  # nothing runs yet, so nothing logs after it
        f"cervi serve: cannot listen for HTTP on 127.0.0.1:{busy_port}: the port is already in "
        "use (another Cervi, or another service); change api.port or free the port"
    )


def test_serve_on_a_busy_dicom_port(tmp_path: Path, busy_port: int) -> None:
    done = _serve(tmp_path, busy_port, free_port())
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    # the log (JSON lines on stderr) may go on while the service stops; the error is one line
    [last] = [line for line in done.stderr.splitlines() if line.startswith("cervi serve:")]
    assert last.startswith(f"cervi serve: cannot listen for DICOM on 127.0.0.1:{busy_port}: ")
    assert "already in use" in last and "node.port" in last  # the setting to change
    assert (tmp_path / "cervi.db").exists()  # the database path was relative to the file


def test_predict_on_a_missing_or_empty_folder(tmp_path: Path, capsys) -> None:
    assert main(["predict", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err == f"cervi predict: {tmp_path / 'absent'}: no such folder\n"
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cervi predict: {tmp_path / 'empty'}: no *.dcm files")
    assert capsys.readouterr().out == ""


def test_predict_without_the_model(tmp_path: Path, capsys) -> None:
    write(make_dx(), tmp_path / "study" / "a.dcm")
    missing = tmp_path / "absent.onnx"
    assert main(["predict", str(tmp_path / "study"), "--model", str(missing)]) == 2
    out = capsys.readouterr()
    assert out.err == f"cervi predict: cannot load the model: {missing}: model file not found\n"
    assert out.out == ""
