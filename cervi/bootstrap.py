"""The one place that wires Cervi together from its settings. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pydicom.config
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cervi.assembler import StudyAssembler, assembly_config
from cervi.commitment import CommitmentRecorder
from cervi.delivery import DeliveryLoop, DeliveryWorker, RetryPolicy, make_sender
from cervi.dispatch import Dispatcher, InProcessDispatcher
from cervi.ingest import DatabaseSink, StoredInstance
from cervi.pipeline import Analyser, ModelAnalyser, Pipeline
from cervi.retention import apply_retention
from cervi.settings import Settings
from dicom_node.scp import CallerRule, Listener, ListenerConfig
from dicom_node.sr import warm_up
from dicom_node.tls import ServerTls
from inference.result import LABELS, ModelIdentity
from storage.counts import FOLD_BATCH, fold_deltas
from storage.db import make_engine, session_factory, transaction, upgrade
from storage.files import InstanceStore
from storage.orphans import sweep_orphans
from storage.studies import requeue_interrupted
from storage.tables import utcnow

logger = logging.getLogger("cervi.bootstrap")

# How often study assembly looks for instances whose after-commit hook failed.
ASSEMBLY_SWEEP_SECONDS = 60
# How often expired instance files are removed (and once at start).
RETENTION_SECONDS = 3600
# How often the metric deltas written by triggers are folded into their totals.
METRICS_FOLD_SECONDS = 60
# Files no row names are removed at start and this often; with PostgreSQL the store may be
# shared by several nodes, so only files this old (no write takes that long to commit).
ORPHAN_SWEEP_SECONDS = 3600
SHARED_STORE_GRACE_SECONDS = 3600


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
    scheduler: BackgroundScheduler
    assembler: StudyAssembler
    dispatcher: Dispatcher
    analyser: Analyser | None = None
    # The DICOM TLS listener (node.tls.port); the same object as ``listener`` when TLS only.
    tls_listener: Listener | None = None
    started: bool = field(default=False, init=False)

    @property
    def listeners(self) -> list[Listener]:
        """Each running listener once: plain, TLS, or both."""
        extra = self.tls_listener
        return [self.listener] + ([extra] if extra and extra is not self.listener else [])

    def start(self) -> None:
        swept = self.files.sweep_temporary()
        if swept:
            logger.warning("removed unfinished writes left by a crash", extra={"files": swept})
        sweep_orphans(self.sessions, self.files, self._orphan_grace())
        warm_up()  # highdicom loads the standard's tables once, not inside the first result
        with transaction(self.sessions) as session:
            interrupted = requeue_interrupted(session, utcnow())
        if interrupted:
            logger.warning("analyses interrupted by a stop resume", extra={"studies": interrupted})
        self.scheduler.start()
        # Before the listener: overdue studies go at once, pending timers are armed again.
        self.assembler.reconcile(redeliver_ready=isinstance(self.dispatcher, InProcessDispatcher))
        self.scheduler.add_job(
            self.assembler.sweep,
            trigger="interval",
            seconds=ASSEMBLY_SWEEP_SECONDS,
            id="assembly-sweep",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        storage = self.settings.storage
        self.scheduler.add_job(
            apply_retention,
            args=(
                self.sessions,
                self.files,
                storage.retention_days,
                storage.ignored_retention_hours,
            ),
            trigger="interval",
            seconds=RETENTION_SECONDS,
            next_run_time=utcnow(),
            id="retention",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self.fold_metrics,
            trigger="interval",
            seconds=METRICS_FOLD_SECONDS,
            next_run_time=utcnow(),
            id="metrics-fold",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            sweep_orphans,
            args=(self.sessions, self.files, SHARED_STORE_GRACE_SECONDS),
            trigger="interval",
            seconds=ORPHAN_SWEEP_SECONDS,
            id="orphan-sweep",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        self.delivery_loop.start()
        self.started = True
        try:
            for listener in self.listeners:
                listener.start()
        except OSError:  # e.g. the port is taken: stop what runs, the caller names the cause
            self.stop()
            raise

    def _orphan_grace(self) -> float:
        """At start: SQLite means one process owns the store, so nothing is mid-write."""
        return 0.0 if self.engine.dialect.name == "sqlite" else SHARED_STORE_GRACE_SECONDS

    def fold_metrics(self) -> int:
        """Fold the metric deltas into their totals, in batches; returns how many went."""
        folded = 0
        while True:
            with transaction(self.sessions) as session:
                batch = fold_deltas(session)
            folded += batch
            if batch < FOLD_BATCH:
                return folded

    def reprocess(self, study_uid: str) -> bool:
        """Analyse the study again as a new result version; False when there is no such study."""
        return self.assembler.reprocess(study_uid)

    def label_keys(self) -> tuple[str, ...]:
        """The label keys results carry: the model's own, else the demo label set."""
        try:
            labels = getattr(self.analyser, "labels", None)
        except Exception:
            logger.exception("the model cannot be loaded", extra={"event": "model_unavailable"})
            labels = None
        return tuple(labels) if labels else LABELS

    def model_identity(self) -> ModelIdentity | None:
        """The model that analyses studies; None when it cannot be loaded."""
        if self.analyser is None:
            return None
        try:
            return self.analyser.identity
        except Exception:
            logger.exception("the model cannot be loaded", extra={"event": "model_unavailable"})
            return None

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a delivery due now; False when there is no such delivery."""
        return self.delivery.retry(delivery_id)

    def stop(self) -> None:
        if self.started:
            for listener in self.listeners:
                listener.stop()
            self.scheduler.shutdown(wait=False)
            if isinstance(self.dispatcher, InProcessDispatcher):
                self.dispatcher.shutdown(wait=True)
            self.delivery_loop.stop()
            self.started = False
        self.engine.dispose()


def listener_config(settings: Settings, tls: bool = False) -> ListenerConfig:
    """The plain listener's configuration, or with ``tls`` the DICOM TLS listener's."""
    node = settings.node
    ssl_context = None
    if tls:
        ssl_context = ServerTls(
            node.tls.certificate,  # type: ignore[arg-type]  # settings require both with a port
            node.tls.private_key,  # type: ignore[arg-type]
            node.tls.client_ca,
            handshake_timeout=node.acse_timeout,
        ).context()
    return ListenerConfig(
        ae_title=node.ae_title,
        host=node.host,
        port=int(node.tls.port if tls else node.port),  # type: ignore[arg-type]
        allowed_callers=tuple(CallerRule(c.ae_title, c.host) for c in node.allowed_callers),
        max_associations=node.max_associations,
        max_connections=node.max_connections,
        max_connections_per_peer=node.max_connections_per_peer,
        max_pdu_size=node.max_pdu_size,
        acse_timeout=node.acse_timeout,
        dimse_timeout=node.dimse_timeout,
        network_timeout=node.network_timeout,
        ssl_context=ssl_context,
    )


def build_service(
    settings: Settings,
    migrate: bool = True,
    dispatcher: Dispatcher | None = None,
    analyser: Analyser | None = None,
) -> Service:
    """Create the engine (upgrading the schema), the file store, study assembly with its
    scheduler, the analysis pipeline behind the dispatcher, the outbox and the listener.

    ``dispatcher`` is the seam between assembly and analysis (``cervi.dispatch.Dispatcher``);
    by default an :class:`InProcessDispatcher` running :class:`cervi.pipeline.Pipeline` with
    ``analyser`` (default: the ONNX models named in ``settings.inference``).
    """
    # The listener validates the identifiers it needs itself; pydicom's own checks of every
    # value would only warn, with the offending (possibly patient) data in the message.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    engine = make_engine(settings.storage.database_url)
    if migrate:
        upgrade(engine)
    sessions = session_factory(engine)
    files = InstanceStore(settings.storage.instance_dir)
    policy = RetryPolicy.from_settings(settings.results.retry)
    commitments = CommitmentRecorder(sessions, policy, on_retry=lambda: delivery_loop.wake())
    node_tls = settings.node.tls if settings.node.tls.certificate else None
    senders = {
        d.name: make_sender(d, settings.node.ae_title, node_tls, commitments)
        for d in settings.results.destinations
    }
    delivery = DeliveryWorker(sessions, senders, policy)
    delivery_loop = DeliveryLoop(delivery)
    if dispatcher is None:
        analyser = analyser or ModelAnalyser(settings.inference)
        pipeline = Pipeline(
            sessions,
            files,
            analyser,
            destinations=list(senders),
            on_queued=delivery_loop.wake,
            key_image=settings.results.key_image,
        )
        dispatcher = InProcessDispatcher(pipeline.analyse, pipeline.report_not_analysed)
    scheduler = BackgroundScheduler(timezone="UTC")
    assembler = StudyAssembler(sessions, assembly_config(settings.assembly), dispatcher, scheduler)
    sink = DatabaseSink(
        files, sessions, settings.storage.min_free_disk_mb, after_commit=_assemble(assembler)
    )
    # Reports are taken only where a destination asks for storage commitment.
    reports = commitments if any(d.commitment for d in settings.results.destinations) else None
    plain = None
    if settings.node.port is not None:
        plain = Listener(listener_config(settings), sink, reports)
    tls_listener = None
    if settings.node.tls.port is not None:
        tls_listener = Listener(listener_config(settings, tls=True), sink, reports)
    listener = plain or tls_listener
    if listener is None:
        raise ValueError("no listener: settings need node.port, node.tls.port or both")
    return Service(
        settings,
        engine,
        sessions,
        files,
        sink,
        listener,
        delivery,
        delivery_loop,
        scheduler,
        assembler,
        dispatcher,
        analyser,
        tls_listener,
    )


def _assemble(assembler: StudyAssembler) -> Callable[[StoredInstance], None]:
    """The listener's after-commit hook: study assembly of the instance just committed."""

    def after_commit(stored: StoredInstance) -> None:
        assembler.instance_stored(stored.outcome.instance_id)

    return after_commit
