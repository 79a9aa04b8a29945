"""A running Cervi for the console's tests: listener and HTTP on loopback, a few studies in it.

What is in it came the way it comes in production wherever that is cheap: a phantom study sent
over C-STORE (its views named by the header rules, analysed by a fixed analyser, its SR waiting
for a PACS whose port refuses connections), an association refused for its called AE title;
plus the small seeded database of ``tests.support.seed`` (two analysed studies, one receiving).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import uvicorn
from pydicom import Dataset
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import Verification
from sqlalchemy import update

from cervi.api import create_app
from cervi.auth import hash_token
from cervi.bootstrap import Service, build_service
from cervi.settings import Settings
from inference.phantom import generate_study
from storage.db import transaction
from storage.detail import study_detail
from storage.tables import Instance, utcnow
from tests.support.analyser import FixedAnalyser
from tests.support.net import free_port, wait_for_port
from tests.support.results import from_bytes, to_bytes
from tests.support.seed import seed

TOKEN = "console-t0ken"  # the legacy api.token: an operator
READER_TOKEN = "console-reader-t0ken"


@dataclass
class RunningConsole:
    base_url: str
    service: Service
    phantom_uid: str

    @property
    def dicom_port(self) -> int:
        return self.service.listener.port


def store(port: int, datasets: list[Dataset], calling: str = "MODALITY") -> list[int]:
    """C-STORE ``datasets`` to Cervi on ``port``; the statuses."""
    ae = AE(ae_title=calling)
    ae.requested_contexts = StoragePresentationContexts[:120]
    assoc = ae.associate("127.0.0.1", port, ae_title="CERVI")
    assert assoc.is_established, "Cervi did not accept the association"
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def refused_association(port: int) -> bool:
    """An association to the wrong called AE title (Cervi rejects and audits it)."""
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="NOT-CERVI")
    return bool(assoc.is_rejected)


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not met after {timeout} s")


@lru_cache(maxsize=1)
def _phantom() -> tuple[str, tuple[bytes, ...]]:
    study = generate_study(7, 3)  # its views are named by header rules
    return study.truth["study_uid"], tuple(to_bytes(ds) for ds in study.datasets)


def phantom_study() -> tuple[str, list[Dataset]]:
    """A phantom study's UID and instances (made once per test session: it takes seconds)."""
    uid, encoded = _phantom()
    return uid, [from_bytes(data) for data in encoded]


@contextmanager
def running_console(database_url: str, folder: Path) -> Iterator[RunningConsole]:
    closed_port = free_port()  # nothing listens: deliveries fail with "connection refused"
    settings = Settings.model_validate(
        {
            "node": {"host": "127.0.0.1", "port": 0},
            "storage": {
                "database_url": database_url,
                "instance_dir": str(folder / "instances"),
                "min_free_disk_mb": 1,
            },
            "assembly": {"quiet_seconds": 600},
            "results": {
                "destinations": [
                    {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": closed_port}
                ],
                "retry": {"first_seconds": 3600},
            },
            "api": {
                "port": 0,
                "token": TOKEN,
                "tokens": [{"name": "ward", "role": "reader", "sha256": hash_token(READER_TOKEN)}],
            },
        }
    )
    service = build_service(settings, analyser=FixedAnalyser())
    seed(service, folder)
    with transaction(service.sessions) as session:  # the seeded views count as assembled
        session.execute(update(Instance).values(assembled_at=utcnow()))
    service.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        uid, datasets = phantom_study()
        statuses = store(service.listener.port, datasets)
        assert statuses == [0] * len(statuses), statuses

        def delivery_tried() -> bool:
            with service.sessions() as session:
                detail = study_detail(session, uid)
            results = detail["results"] if detail else []
            return bool(results and results[0]["deliveries"][0]["last_error"])

        wait_for(delivery_tried, what="the phantom study's SR delivery attempted")
        assert refused_association(service.listener.port)
        yield RunningConsole(f"http://127.0.0.1:{port}", service, uid)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()
