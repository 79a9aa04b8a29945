from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cervi.bootstrap import Service, build_service
from cervi.demo.orthanc import Orthanc
from tests.conftest import require_tool
from tests.integration.conftest import make_settings


@pytest.fixture
def cervi(tmp_path: Path) -> Iterator[Service]:
    running = build_service(make_settings(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def orthanc(tmp_path: Path, cervi: Service) -> Iterator[Orthanc]:
    """Orthanc as the PACS, with Cervi configured as its modality ``cervi``."""
    require_tool("Orthanc")
    pacs = Orthanc(
        tmp_path / "orthanc", modalities={"cervi": ("CERVI", "127.0.0.1", cervi.listener.port)}
    )
    pacs.start()
    try:
        yield pacs
    finally:
        pacs.stop()
