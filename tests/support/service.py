"""``cervi serve`` as a real child process, for tests that kill or restart it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.net import free_port, wait_for_port


@dataclass
class CerviProcess:
    folder: Path
    database_url: str
    extra: dict = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / "cervi.yaml"

    def write_config(self) -> None:
        config = {
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
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self) -> CerviProcess:
        self.write_config()
        log = (self.folder / "cervi.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cervi", "serve", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("CERVI_")},
        )
        wait_for_port(self.port, timeout=30)
        wait_for_port(self.api_port, timeout=30)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a power cut of the process."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        path = self.folder / "cervi.log"
        return path.read_text(errors="replace") if path.exists() else ""
