"""API roles and HTTPS over a real socket: uvicorn with the TLS options ``cervi serve`` uses,
named tokens kept as SHA-256 digests, 401/403, and audit rows naming the token."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from cervi.api import create_app
from cervi.auth import hash_token
from cervi.bootstrap import Service, build_service
from cervi.commands.serve import _https
from cervi.settings import ApiTlsSettings, Settings
from storage.tables import AuditEvent, Delivery
from tests.integration.conftest import make_settings
from tests.support.certs import Pki, make_pki
from tests.support.net import free_port, wait_for_port
from tests.support.seed import seed

READER, OPERATOR, LEGACY = "reader-secret-1", "operator-secret-2", "legacy-secret-3"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_api(database_url: str, tmp_path: Path, pki: Pki) -> Iterator[tuple[str, Service]]:
    data = make_settings(database_url, tmp_path).model_dump()
    data["api"]["tokens"] = [
        {"name": "ris", "role": "reader", "sha256": hash_token(READER)},
        {"name": "night-ops", "role": "operator", "sha256": hash_token(OPERATOR)},
    ]
    data["api"]["token"] = LEGACY
    settings = Settings.model_validate(data)
    service = build_service(settings)
    seed(service, tmp_path)
    port = free_port()
    tls = ApiTlsSettings(certificate=pki.server.certificate, private_key=pki.server.key)
    config = uvicorn.Config(
        create_app(service), host="127.0.0.1", port=port, log_config=None, **_https(tls)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"https://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()


def _client(pki: Pki, token: str | None = None, **context: object) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    for key, value in context.items():
        setattr(ctx, key, value)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(verify=ctx, headers=headers, timeout=10)


def _audit(service: Service, kind: str) -> list[tuple[str | None, str | None]]:
    with service.sessions() as session:
        rows = session.execute(
            select(AuditEvent.actor, AuditEvent.detail).where(AuditEvent.kind == kind)
        )
        return [tuple(r) for r in rows]


def test_reader_reads_but_may_not_write(https_api, pki: Pki) -> None:
    base, service = https_api
    with _client(pki, READER) as client:
        assert client.get(base + "/api/v1/studies").status_code == 200
        assert client.get(base + "/api/v1/studies/1.2.3.0").status_code == 200
        refused = client.post(base + "/api/v1/studies/1.2.3.0/reprocess")
        assert refused.status_code == 403 and "reader" in refused.json()["detail"]
        assert client.post(base + "/api/v1/deliveries/1/retry").status_code == 403
    assert [actor for actor, _ in _audit(service, "api_forbidden")] == ["ris", "ris"]
    assert _audit(service, "api_reprocess") == []


def test_operator_writes_and_the_audit_names_the_token(https_api, pki: Pki) -> None:
    base, service = https_api
    with service.sessions() as session:
        delivery_id = session.scalars(select(Delivery.id).limit(1)).one()
    with _client(pki, OPERATOR) as client:
        assert client.get(base + "/api/v1/studies").status_code == 200
        assert client.post(f"{base}/api/v1/deliveries/{delivery_id}/retry").status_code == 202
    with _client(pki, LEGACY) as client:  # the single api.token of old: an operator
        assert client.post(f"{base}/api/v1/deliveries/{delivery_id}/retry").status_code == 202
        assert client.post(f"{base}/api/v1/deliveries/999/retry").status_code == 404
    assert _audit(service, "api_delivery_retry") == [
        ("night-ops", f"delivery {delivery_id}: queued"),
        ("api.token", f"delivery {delivery_id}: queued"),
        ("api.token", "delivery 999: no such delivery"),
    ]


@pytest.mark.parametrize("token", [None, "wrong", hash_token(READER)])
def test_no_or_a_wrong_token_is_401(https_api, pki: Pki, token: str | None) -> None:
    base, _ = https_api
    with _client(pki, token) as client:
        response = client.get(base + "/api/v1/studies")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_https_offers_tls12_or_newer_only(https_api, pki: Pki) -> None:
    base, _ = https_api
    with _client(pki, READER) as client:
        assert client.get(base + "/health").status_code in (200, 503)
    port = int(base.rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # A client that stops at TLS 1.1 is refused; the same client gets TLS 1.1 from a server
    # that allows it, so the refusal is Cervi's, not the client's own OpenSSL policy.
    old = _tls11_client()
    assert _handshake(old, _permissive_server(pki)) == "TLSv1.1"
    with pytest.raises(ssl.SSLError):
        _handshake(old, port)
    # And plain HTTP on the HTTPS port gets nothing useful.
    with pytest.raises(httpx.HTTPError):
        httpx.get(base.replace("https", "http") + "/health", timeout=5)


def _tls11_client() -> ssl.SSLContext:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    return old


def _handshake(context: ssl.SSLContext, port: int) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def _permissive_server(pki: Pki) -> int:
    """A one-connection TLS server that still allows TLS 1.0 and 1.1 (the control)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(str(pki.server.certificate), str(pki.server.key))
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_one() -> None:
        with listener, contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True):
                pass

    threading.Thread(target=accept_one, daemon=True).start()
    return int(listener.getsockname()[1])
