"""``cervi serve``: the DICOM listener and the HTTP API in one process.

SIGTERM or SIGINT stops the HTTP server (uvicorn handles the signal), then the listener stops
accepting and lets in-flight associations finish before the process exits.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from cervi.cli import CommandError, add_config_option
from cervi.exposure import open_settings
from cervi.logs import configure_logging
from cervi.settings import ApiTlsSettings, resolve_settings
from dicom_node.tls import BCP195_TLS12_CIPHERS, TlsConfigError

logger = logging.getLogger("cervi.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the DICOM listener and the HTTP API")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cervi.api import create_app
    from cervi.bootstrap import build_service
    from cervi.pipeline import ModelAnalyser
    from inference.runtime import ModelFileError

    settings, source = resolve_settings(args.config)
    configure_logging(settings.logging)
    logger.info("settings loaded", extra={"source": source, "settings": settings.masked()})
    for finding in open_settings(settings):
        logger.warning("open setting: %s", finding, extra={"event": "open_setting"})
    http = bind(settings.api.host, settings.api.port, "HTTP", "api.port")
    try:
        service = build_service(settings)
    except TlsConfigError as exc:
        http.close()
        print(f"cervi serve: TLS: {exc}", file=sys.stderr)
        return 2
    if isinstance(service.analyser, ModelAnalyser):
        try:
            service.analyser.load()  # a missing or broken model stops the start, not a study
        except ModelFileError as exc:
            print(f"cervi serve: cannot load the model: {exc}", file=sys.stderr)
            service.stop()
            http.close()
            return 2
    try:
        service.start()
    except OSError as exc:
        http.close()
        node = settings.node
        ports = "/".join(str(p) for p in (node.port, node.tls.port) if p is not None)
        message = _cannot_listen("DICOM", node.host, ports, "node.port or node.tls.port", exc)
        raise CommandError(message) from None
    try:
        config = uvicorn.Config(
            create_app(service),
            host=settings.api.host,
            port=settings.api.port,
            log_config=None,
            access_log=False,
            **_https(settings.api.tls),
        )
        _Server(config).run(sockets=[http])
    finally:
        service.stop()
        logger.info("stopped")
    return 0


def bind(host: str, port: int, what: str, key: str) -> socket.socket:
    """A socket bound to ``host:port`` but not yet listening (uvicorn listens on it once the
    DICOM listener runs), or a :class:`CommandError` that names the cause and the setting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(_cannot_listen(what, host, str(port), key, exc)) from None
    return sock


def _cannot_listen(what: str, host: str, port: str, key: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        cause = "the port is already in use (another Cervi, or another service)"
    elif exc.errno == errno.EACCES:
        cause = "permission denied (ports below 1024 need privileges)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        cause = "no such address on this machine"
    else:
        cause = exc.strerror or str(exc)
    return f"cannot listen for {what} on {host}:{port}: {cause}; change {key} or free the port"


def _https(tls: ApiTlsSettings | None) -> dict[str, object]:
    """uvicorn's TLS options for ``api.tls``: the BCP 195 cipher suites; uvicorn's context
    (PROTOCOL_TLS_SERVER) already refuses anything older than TLS 1.2."""
    if tls is None:
        return {}
    return {
        "ssl_certfile": str(tls.certificate),
        "ssl_keyfile": str(tls.private_key),
        "ssl_ciphers": BCP195_TLS12_CIPHERS,
    }


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its shutdown, which would skip the listener's graceful
    stop; here the signal only asks the HTTP server to exit and ``run`` returns normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
