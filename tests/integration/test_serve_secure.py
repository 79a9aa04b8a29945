"""``cervi serve`` as a process: HTTPS from ``api.tls``, DICOM TLS from ``node.tls``, and one
warning line per open setting at start."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx

from tests.conftest import require_tool
from tests.support.certs import make_pki
from tests.support.service import ServeProcess


def test_serve_https_dicom_tls_and_open_setting_warnings(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    serve = ServeProcess(
        tmp_path / "serve",
        f"sqlite:///{tmp_path / 'cervi.db'}",
        extra={
            "api": {
                "tls": {
                    "certificate": str(pki.server.certificate),
                    "private_key": str(pki.server.key),
                }
            },
            "node": {
                "tls": {
                    "port": 0,
                    "certificate": str(pki.server.certificate),
                    "private_key": str(pki.server.key),
                    "client_ca": str(pki.ca),
                }
            },
        },
    ).start()
    try:
        context = ssl.create_default_context(cafile=str(pki.ca))
        health = httpx.get(f"https://127.0.0.1:{serve.api_port}/health", verify=context, timeout=10)
        assert health.status_code == 200, health.text
        tls_port = health.json()["listener"]["tls_port"]
        echo = subprocess.run(
            [
                require_tool("echoscu"), "-aec", "CERVI", "+tls", str(pki.client.key),
                str(pki.client.certificate), "+cf", str(pki.ca), "127.0.0.1", str(tls_port),
            ],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert echo.returncode == 0, echo.stderr
    finally:
        serve.terminate()
    warnings = [
        json.loads(line)["message"]
        for line in serve.log().splitlines()
        if line.startswith("{") and '"open_setting"' in line
    ]
    # Loopback binds with TLS: only the missing destination is open.
    assert warnings == ["open setting: results.destinations: no destination: results go nowhere"]
