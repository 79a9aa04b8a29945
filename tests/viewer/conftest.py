"""Fixtures of the viewer tier: OHIF, puppeteer-core and chromium (``make viewer-deps``),
Orthanc with DICOMweb as the PACS, and OHIF served on the same origin as DICOMweb."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cervi.demo.orthanc import Orthanc
from cervi.demo.viewer import ViewerServer
from tests.conftest import IN_CI, require_tool
from tests.viewer.ohif import ViewerDeps

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"


@pytest.fixture(scope="session")
def viewer_deps() -> ViewerDeps:
    """OHIF's dist/, puppeteer-core and chromium; skipped outside CI when set-up has not run."""
    require_tool("node")
    deps = ViewerDeps.find()
    missing = deps.missing()
    if missing:
        message = f"viewer tier not set up ({', '.join(missing)}): run `make viewer-deps`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return deps


@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Orthanc with its DICOMweb plugin at /dicom-web/."""
    require_tool("Orthanc")
    orthanc = Orthanc(tmp_path_factory.mktemp("orthanc"), dicomweb=True)
    orthanc.start()
    try:
        yield orthanc
    finally:
        orthanc.stop()


@pytest.fixture(scope="module")
def viewer(viewer_deps: ViewerDeps, pacs: Orthanc) -> Iterator[ViewerServer]:
    """OHIF and the PACS's DICOMweb on one origin."""
    with ViewerServer(viewer_deps.dist, f"{pacs.url}/dicom-web") as server:
        yield server


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for this test's screenshots, kept after the run (test-artifacts/, gitignored)."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    return folder
