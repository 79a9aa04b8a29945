"""Orthanc (Debian's package) as a local PACS: for ``cervi demo``, end-to-end tests and benchmarks.

Each instance gets its own folder, ports and JSON configuration; :meth:`Orthanc.stop` waits for
the process to exit so that the ports can be reused.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    """A TCP port that nothing listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Orthanc:
    folder: Path
    modalities: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    ae_title: str = "ORTHANC"
    dicomweb: bool = False
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def config(self) -> dict[str, Any]:
        return {
            "Name": "CerviTestPACS",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomModalities": {k: list(v) for k, v in self.modalities.items()},
            "Plugins": [str(DICOMWEB_PLUGIN)] if self.dicomweb else [],
            "DicomWeb": {"Enable": self.dicomweb, "Root": "/dicom-web/"},
            "HttpCompressionEnabled": False,
            "SaveJobs": False,
        }

    def start(self, timeout: float = 20.0) -> Orthanc:
        binary = shutil.which("Orthanc")
        if binary is None:
            raise FileNotFoundError("Orthanc is not installed (Debian package orthanc)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        log = (self.folder / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            [binary, str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}; see {log.name}")
            try:
                self.get("/system")
                return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("Orthanc did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as response:
            data = response.read()
        return json.loads(data) if data else None

    def request_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | dict | list | str) -> Any:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return self.request("POST", path, body)

    def sr_series(self, orthanc_study: str) -> list[dict[str, Any]]:
        """The SR series of a study (Orthanc's series objects, with their ``Instances``)."""
        return [
            series
            for series in self.get(f"/studies/{orthanc_study}/series")
            if series["MainDicomTags"].get("Modality") == "SR" and series["Instances"]
        ]

    def upload(self, dicom_file: Path) -> str:
        """Store a DICOM file over REST; return Orthanc's instance ID."""
        return str(self.post("/instances", dicom_file.read_bytes())["ID"])
