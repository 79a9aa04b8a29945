"""A Cervi service running in-process on a free loopback port, on each database engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cervi.bootstrap import Service, build_service
from cervi.settings import Settings


def make_settings(database_url: str, tmp_path: Path, **node: object) -> Settings:
    return Settings.model_validate(
        {
            "node": {"host": "127.0.0.1", "port": 0, **node},
            "storage": {
                "database_url": database_url,
                "instance_dir": str(tmp_path / "instances"),
                "min_free_disk_mb": 1,
            },
            "api": {"port": 0},
        }
    )


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[Service]:
    running = build_service(make_settings(database_url, tmp_path))
    running.start()
    try:
        yield running
    finally:
        running.stop()
