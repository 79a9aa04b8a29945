"""``cervi serve`` as a real child process on free loopback ports, for tests and benchmarks
that kill, stop or restart it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.net import free_port, wait_for_port


@dataclass
class ServeProcess:
    """``cervi serve`` as a child process on free loopback ports, for kill -9 and restart."""

    folder: Path
    database_url: str
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        config: dict[str, dict[str, Any]] = {
            "node": {"host": "127.0.0.1", "port": self.port},
            "storage": {
                "database_url": self.database_url,
                "instance_dir": str(self.folder / "instances"),
                "min_free_disk_mb": 1,
            },
            "api": {"port": self.api_port},
            "logging": {"json": True},
        }
        for section, values in self.extra.items():
            config.setdefault(section, {}).update(values)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"cervi-{self.port}.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = self.folder / f"cervi-{self.port}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SERVE, "serve", "--config", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("CERVI_")},
            )
        # The HTTP port opens after the listener; a bare TCP probe of the DICOM port would leave
        # an association thread waiting for its request until the ACSE timeout.
        wait_for_port(self.api_port, timeout=60)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def dispatch_lines(self, study_uid: str) -> int:
        """How many times this process handed the study to analysis (its JSON log lines)."""
        return sum(
            1
            for line in self.log().splitlines()
            if "analysis requested" in line and study_uid in line
        )


_SERVE = "import sys; from cervi.cli import main; sys.exit(main(sys.argv[1:]))"
