"""OHIF on the same origin as a DICOMweb server: static viewer files, a reverse proxy, a config.

The prebuilt OHIF viewer (the ``dist/`` folder of the npm package ``@ohif/app``) is a single-page
application that reads studies over DICOMweb. Orthanc 1.10 sends no CORS headers, so the viewer
and DICOMweb must share one origin; this server provides it with the standard library only:

- ``/dicom-web/...`` is forwarded to the DICOMweb root (for Orthanc: ``http://host:8042/dicom-web``);
- ``/app-config.js`` is generated: one DICOMweb data source at ``/dicom-web`` (see
  :func:`app_config`);
- any other path is a file of ``dist/``, and a path that names no file and has no extension is one
  of OHIF's client-side routes (``/basic``, ``/viewer``, ...) and gets ``index.html``.

Used by the viewer tests (``tests/viewer``) and meant for ``cervi demo --viewer``; it is not a
production web server (no TLS, no authentication, loopback by default).
"""

from __future__ import annotations

import http.client
import json
import logging
import mimetypes
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DICOMWEB_PREFIX = "/dicom-web"
#: The OHIF release Cervi is tested with; ``make viewer-deps`` (tests/viewer/setup.sh) fetches it.
OHIF_VERSION = "3.13.2"
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming insists on it
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
}
#: Request headers passed on to DICOMweb (the rest, Host included, are the proxy's own).
_FORWARD_REQUEST = ("accept", "content-type", "range", "authorization")
#: Response headers passed back (Content-Length is recomputed).
_FORWARD_RESPONSE = ("content-type", "content-range", "etag", "last-modified")
_HOP_TIMEOUT_S = 60.0


def viewer_cache() -> Path:
    """Where ``make viewer-deps`` keeps OHIF and puppeteer-core, outside the repository:
    ``$CERVI_VIEWER_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/cervi/ohif``."""
    if os.environ.get("CERVI_VIEWER_CACHE"):
        return Path(os.environ["CERVI_VIEWER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cervi" / "ohif"


def default_dist() -> Path:
    """OHIF's prebuilt ``dist/`` as ``make viewer-deps`` unpacks it (it may not exist yet)."""
    return viewer_cache() / f"app-{OHIF_VERSION}" / "dist"


def app_config(
    dicomweb_root: str = DICOMWEB_PREFIX,
    *,
    show_study_list: bool = True,
    investigational_use_dialog: bool = False,
) -> str:
    """The text of OHIF 3's ``app-config.js``: one DICOMweb data source at ``dicomweb_root``.

    The data-source settings are those Orthanc's own OHIF plugin uses for its DICOMweb plugin
    (QIDO without ``includefield``, WADO-RS frames, bulk data by URI). The investigational-use
    dialog is off by default: it would cover the viewport a test or a demo opens.
    """
    config: dict[str, Any] = {
        "routerBasename": "/",
        "extensions": [],
        "modes": [],
        "showStudyList": show_study_list,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "showLoadingIndicator": True,
        "maxNumberOfWebWorkers": 2,
        "investigationalUseDialog": {"option": "always" if investigational_use_dialog else "never"},
        "defaultDataSourceName": "dicomweb",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "dicomweb",
                "configuration": {
                    "friendlyName": "Orthanc DICOMweb",
                    "name": "orthanc",
                    "wadoUriRoot": dicomweb_root,
                    "qidoRoot": dicomweb_root,
                    "wadoRoot": dicomweb_root,
                    "qidoSupportsIncludeField": False,
                    "supportsReject": False,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": False,
                    "supportsWildcard": True,
                    "staticWado": True,
                    "singlepart": "bulkdata,video",
                    "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                    "acceptHeader": [
                        "multipart/related; type=application/octet-stream; transfer-syntax=*"
                    ],
                },
            }
        ],
    }
    return f"window.config = {json.dumps(config, indent=2)};\n"


class _Handler(BaseHTTPRequestHandler):
    """One request: a DICOMweb call to forward, the generated config, a file or a route."""

    server: ViewerServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(send_body=False)

    def do_POST(self) -> None:  # noqa: N802 (STOW-RS and searches through the proxy)
        if self._is_dicomweb():
            self._proxy()
        else:
            self._send(405, b"method not allowed\n", "text/plain")

    def _is_dicomweb(self) -> bool:
        path = urllib.parse.urlsplit(self.path).path
        return path == DICOMWEB_PREFIX or path.startswith(DICOMWEB_PREFIX + "/")

    def _dispatch(self, send_body: bool) -> None:
        if self._is_dicomweb():
            self._proxy(send_body)
            return
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path == "/app-config.js":
            self._send(200, self.server.config_js.encode(), _TYPES[".js"], send_body)
            return
        file = self.server.static_file(path)
        if file is None:
            self._send(404, b"not found\n", "text/plain", send_body)
            return
        content_type = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        self._send(200, file.read_bytes(), content_type or "application/octet-stream", send_body)

    def _proxy(self, send_body: bool = True) -> None:
        target = self.server.upstream
        suffix = self.path[len(DICOMWEB_PREFIX) :]
        body = None
        if "content-length" in self.headers:
            body = self.rfile.read(int(self.headers["content-length"]))
        headers = {k: v for k in _FORWARD_REQUEST if (v := self.headers.get(k)) is not None}
        connection = http.client.HTTPConnection(target.hostname, target.port, _HOP_TIMEOUT_S)
        try:
            connection.request(self.command, target.path.rstrip("/") + suffix, body, headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as exc:
            logger.warning("DICOMweb upstream failed: %s %s: %s", self.command, suffix, exc)
            self._send(502, b"DICOMweb upstream failed\n", "text/plain", send_body)
            return
        finally:
            connection.close()
        extra = {k: v for k in _FORWARD_RESPONSE if (v := response.getheader(k)) is not None}
        content_type = extra.pop("content-type", "application/octet-stream")
        self._send(response.status, data, content_type, send_body, extra)

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        send_body: bool = True,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                logger.debug("viewer: client went away during %s", self.path)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (inherited name)
        logger.debug("viewer %s " + format, self.address_string(), *args)


class ViewerServer(ThreadingHTTPServer):
    """OHIF's ``dist/`` and a DICOMweb root on one origin, served from a background thread.

    >>> with ViewerServer(dist, "http://127.0.0.1:8042/dicom-web") as viewer:  # doctest: +SKIP
    ...     print(viewer.study_url(study_uid))
    """

    daemon_threads = True

    def __init__(
        self,
        dist: Path,
        dicomweb_url: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config_js: str | None = None,
    ) -> None:
        """
        Parameters
        ----------
        dist: OHIF's prebuilt ``dist/`` folder (it holds ``index.html``).
        dicomweb_url: the DICOMweb root to forward ``/dicom-web`` to, e.g.
            ``http://127.0.0.1:8042/dicom-web``.
        host, port: where to listen; port 0 picks a free one (see :attr:`url`).
        config_js: the ``app-config.js`` to serve; :func:`app_config` when None.
        """
        dist = Path(dist).resolve()
        if not (dist / "index.html").is_file():
            raise FileNotFoundError(f'Argument "dist" must be OHIF\'s dist/ folder: {dist}')
        upstream = urllib.parse.urlsplit(dicomweb_url)
        if upstream.scheme != "http" or not upstream.hostname:
            raise ValueError(f'Argument "dicomweb_url" must be an http:// URL: {dicomweb_url!r}')
        self.dist = dist
        self.upstream = upstream
        self.config_js = config_js if config_js is not None else app_config()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def study_url(self, study_uid: str, series_uid: str | None = None, mode: str = "basic") -> str:
        """The URL that opens a study in OHIF's ``mode``; with ``series_uid`` (an SR series, say)
        that series is the one shown first."""
        query = {"StudyInstanceUIDs": study_uid}
        if series_uid:
            query["initialSeriesInstanceUID"] = series_uid
        return f"{self.url}/{mode}?{urllib.parse.urlencode(query)}"

    def static_file(self, path: str) -> Path | None:
        """The file of ``dist/`` that ``path`` names, ``index.html`` for a client-side route, or
        None (a missing asset, or a path that leaves ``dist/``)."""
        candidate = (self.dist / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.dist):
            return None
        if candidate.is_file():
            return candidate
        if candidate.is_dir() and (candidate / "index.html").is_file():
            return candidate / "index.html"
        if "." in path.rsplit("/", 1)[-1]:
            return None  # an asset that does not exist: a 404 says so, index.html would hide it
        return self.dist / "index.html"

    def start(self) -> ViewerServer:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="ohif-viewer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
