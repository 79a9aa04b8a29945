"""The one place that wires Cervi together from its settings. Nothing is built at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pydicom.config
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cervi.delivery import DeliveryLoop, DeliveryWorker, RetryPolicy, make_sender
from cervi.ingest import DatabaseSink
from cervi.settings import Settings
from dicom_node.scp import CallerRule, Listener, ListenerConfig
from storage.db import make_engine, session_factory, upgrade
from storage.files import InstanceStore

logger = logging.getLogger("cervi.bootstrap")


@dataclass
class Service:
    """Everything a running Cervi holds; :meth:`start` and :meth:`stop` bracket its life."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    files: InstanceStore
    sink: DatabaseSink
    listener: Listener
    delivery: DeliveryWorker
    delivery_loop: DeliveryLoop
    started: bool = field(default=False, init=False)

    def start(self) -> None:
        swept = self.files.sweep_temporary()
        if swept:
            logger.warning("removed unfinished writes left by a crash", extra={"files": swept})
        self.delivery_loop.start()
        self.listener.start()
        self.started = True

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a delivery due now; False when there is no such delivery."""
        return self.delivery.retry(delivery_id)

    def stop(self) -> None:
        if self.started:
            self.listener.stop()
            self.delivery_loop.stop()
            self.started = False
        self.engine.dispose()


def listener_config(settings: Settings) -> ListenerConfig:
    node = settings.node
    return ListenerConfig(
        ae_title=node.ae_title,
        host=node.host,
        port=node.port,
        allowed_callers=tuple(CallerRule(c.ae_title, c.host) for c in node.allowed_callers),
        max_associations=node.max_associations,
        max_pdu_size=node.max_pdu_size,
        acse_timeout=node.acse_timeout,
        dimse_timeout=node.dimse_timeout,
        network_timeout=node.network_timeout,
    )


def build_service(settings: Settings, migrate: bool = True) -> Service:
    """Create the engine (upgrading the schema), the file store, the sink and the listener."""
    # The listener validates the identifiers it needs itself; pydicom's own checks of every
    # value would only warn, with the offending (possibly patient) data in the message.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    engine = make_engine(settings.storage.database_url)
    if migrate:
        upgrade(engine)
    sessions = session_factory(engine)
    files = InstanceStore(settings.storage.instance_dir)
    sink = DatabaseSink(files, sessions, settings.storage.min_free_disk_mb)
    listener = Listener(listener_config(settings), sink)
    senders = {
        d.name: make_sender(d, settings.node.ae_title) for d in settings.results.destinations
    }
    delivery = DeliveryWorker(sessions, senders, RetryPolicy.from_settings(settings.results.retry))
    return Service(
        settings, engine, sessions, files, sink, listener, delivery, DeliveryLoop(delivery)
    )
