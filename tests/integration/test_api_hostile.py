"""The HTTP API against hostile parameters, and /health while the listener is under attack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from alembic.script import ScriptDirectory

from cervi.api import create_app
from cervi.bootstrap import Service, build_service
from storage.db import alembic_config
from tests.integration.conftest import make_settings
from tests.support import attack
from tests.support.attack import attacker, pdu_header, wait_until
from tests.support.net import free_port, wait_for_port
from tests.support.seed import seed

MAX_CONNECTIONS = 6


@pytest.fixture
def running(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Service]]:
    settings = make_settings(
        database_url,
        tmp_path,
        max_associations=4,
        max_connections=MAX_CONNECTIONS,
        max_connections_per_peer=3,
        acse_timeout=30,
    )
    service = build_service(settings)
    seed(service, tmp_path)
    service.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/studies", {"offset": 2**63}),
        ("/api/v1/studies", {"offset": -1}),
        ("/api/v1/studies", {"patient_id": "P1\x00"}),
        ("/api/v1/studies", {"accession": "A" * 300}),
        ("/api/v1/studies/1.2.3.0/sr", {"version": "1e23"}),
        ("/api/v1/studies/1.2.3.0/sr", {"version": 2**31}),
        ("/api/v1/studies/not-a-uid", {}),
        ("/api/v1/studies/1.2.3.0%00", {}),
    ],
)
def test_out_of_range_parameters_get_422_not_500(
    running: tuple[str, Service], path: str, params: dict[str, object]
) -> None:
    base, _ = running
    response = httpx.get(base + path, params=params, timeout=10)
    assert response.status_code == 422, response.text


def test_the_largest_offsets_and_ids_are_answered(running: tuple[str, Service]) -> None:
    base, _ = running
    response = httpx.get(base + "/api/v1/studies", params={"offset": 2**63 - 1}, timeout=10)
    assert response.status_code == 200 and response.json()["items"] == []
    assert httpx.post(base + f"/api/v1/deliveries/{2**31 - 1}/retry", timeout=10).status_code == 404
    assert httpx.post(base + f"/api/v1/deliveries/{2**31}/retry", timeout=10).status_code == 422
    sr = httpx.get(base + "/api/v1/studies/1.2.3.0/sr", params={"version": 2**31 - 1}, timeout=10)
    assert sr.status_code == 404


def test_health_says_when_the_listener_is_saturated(running: tuple[str, Service]) -> None:
    base, service = running
    port = service.listener.port
    held = [attack.connect(port, attacker(n)) for n in (1, 2) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(pdu_header(0x01, 100))  # a request begun, never finished
        assert wait_until(lambda: service.listener.load().connections == MAX_CONNECTIONS, 5)
        health = httpx.get(base + "/health", timeout=10)
        assert health.status_code == 503
        listener = health.json()["listener"]
        assert listener["saturated"] is True
        assert listener["connections"] == listener["max_connections"] == MAX_CONNECTIONS
    finally:
        for sock in held:
            sock.close()
    assert wait_until(lambda: httpx.get(base + "/health", timeout=10).status_code == 200, 5)
    assert httpx.get(base + "/health", timeout=10).json()["listener"]["saturated"] is False


def test_health_writes_no_log_lines(
    running: tuple[str, Service], caplog: pytest.LogCaptureFixture
) -> None:
    base, service = running
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert httpx.get(base + "/health", timeout=10).status_code == 200
    assert [r for r in caplog.records if r.name.startswith("alembic")] == []
    head = ScriptDirectory.from_config(alembic_config(service.engine)).get_current_head()
    assert httpx.get(base + "/health", timeout=10).json()["database"]["revision"] == head
