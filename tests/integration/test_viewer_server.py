"""cervi.demo.viewer.ViewerServer over real sockets: static files, client-route fallback, the
generated app-config.js, and the DICOMweb reverse proxy (a stand-in upstream here; the viewer
tier runs it against Orthanc)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cervi.demo.viewer import OHIF_VERSION, ViewerServer, app_config, default_dist


class _Upstream(BaseHTTPRequestHandler):
    """Answers with what it was asked, as JSON."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"path": self.path, "accept": self.headers.get("Accept")}).encode()
        self.send_response(200 if "missing" not in self.path else 404)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()
    server.server_close()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<html>OHIF</html>")
    (folder / "app.bundle.js").write_text("console.log(1)")
    (folder / "x.wasm").write_bytes(b"\0asm")
    (tmp_path / "secret.txt").write_text("outside")
    return folder


@pytest.fixture
def viewer(dist: Path, upstream: str) -> Iterator[ViewerServer]:
    with ViewerServer(dist, upstream) as server:
        yield server


def get(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_files_with_their_types_and_routes_fall_back_to_index(viewer: ViewerServer) -> None:
    assert get(viewer.url + "/app.bundle.js")[:2] == (200, "text/javascript")
    assert get(viewer.url + "/x.wasm")[:2] == (200, "application/wasm")
    for route in ("/", "/basic", "/viewer/dicomweb"):
        status, kind, body = get(viewer.url + route + "?StudyInstanceUIDs=1.2.3")
        assert (status, body) == (200, b"<html>OHIF</html>") and kind.startswith("text/html")


def test_missing_assets_and_paths_outside_dist_are_404(viewer: ViewerServer) -> None:
    assert get(viewer.url + "/missing.bundle.js")[0] == 404
    assert get(viewer.url + "/%2e%2e/secret.txt")[0] == 404  # "/../secret.txt" once decoded
    assert viewer.static_file("/../secret.txt") is None


def test_app_config_points_ohif_at_the_same_origin_dicomweb(viewer: ViewerServer) -> None:
    status, kind, body = get(viewer.url + "/app-config.js")
    assert (status, kind) == (200, "text/javascript")
    config = json.loads(body.decode().removeprefix("window.config = ").rstrip().rstrip(";"))
    source = config["dataSources"][0]["configuration"]
    assert source["qidoRoot"] == source["wadoRoot"] == "/dicom-web"
    assert config["defaultDataSourceName"] == config["dataSources"][0]["sourceName"]
    assert config["investigationalUseDialog"] == {"option": "never"}
    assert '"always"' in app_config(investigational_use_dialog=True)


def test_dicomweb_is_forwarded_with_accept_and_status(viewer: ViewerServer) -> None:
    accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
    status, kind, body = get(viewer.url + "/dicom-web/studies?limit=1", accept)
    assert (status, kind) == (200, "application/dicom+json")
    assert json.loads(body) == {"path": "/dicom-web/studies?limit=1", "accept": accept}
    assert get(viewer.url + "/dicom-web/studies/missing")[0] == 404


def test_study_url_opens_the_basic_mode_on_a_series(viewer: ViewerServer) -> None:
    assert viewer.study_url("1.2", "1.2.3") == (
        f"{viewer.url}/basic?StudyInstanceUIDs=1.2&initialSeriesInstanceUID=1.2.3"
    )


def test_refuses_a_folder_without_index_and_a_non_http_upstream(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dist"):
        ViewerServer(tmp_path, "http://127.0.0.1:1/dicom-web")
    (tmp_path / "index.html").write_text("x")
    with pytest.raises(ValueError, match="dicomweb_url"):
        ViewerServer(tmp_path, "file:///etc")


def test_setup_script_fetches_the_ohif_version_cervi_names() -> None:
    setup = Path(__file__).resolve().parents[1] / "viewer" / "setup.sh"
    assert f'OHIF_VERSION="{OHIF_VERSION}"' in setup.read_text()
    assert default_dist().parent.name == f"app-{OHIF_VERSION}"
