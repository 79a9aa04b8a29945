"""The listener's admission bookkeeping: the association limit, its load, and refusal audits.

Kept apart from the handlers in ``scp.py``: these objects live as long as the listener and are
shared by every association thread, so each guards its state with a lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger("cervi.scp")


class Admission:
    """At most ``limit`` associations admitted at once (``node.max_associations``).

    pynetdicom's own limit counts threads, negotiating or dead-but-waiting ones included; this
    counts only associations that were admitted and are still alive, and is decided under a lock
    so that two requests arriving together cannot both take the last slot.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._admitted: weakref.WeakSet[Any] = weakref.WeakSet()

    def admit(self, assoc: Any) -> bool:
        with self._lock:
            if self._count() >= self.limit:
                return False
            self._admitted.add(assoc)
            return True

    def count(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        return sum(1 for assoc in list(self._admitted) if _holds_slot(assoc))


def _holds_slot(assoc: Any) -> bool:
    ended = assoc.is_released or assoc.is_aborted or assoc.is_rejected
    return bool(assoc.is_alive()) and not ended


@dataclass(frozen=True)
class ListenerLoad:
    """What ``/health`` reports of the listener: how full it is and how often it refused."""

    connections: int
    associations: int
    max_connections: int
    max_associations: int
    refusals: int

    @property
    def saturated(self) -> bool:
        """A new sender would be refused now."""
        return (
            self.connections >= self.max_connections or self.associations >= self.max_associations
        )


class _Auditable(Protocol):
    kind: str
    peer: str | None
    detail: str


T = TypeVar("T", bound=_Auditable)
BATCH = 500  # refusals written in one transaction


class RefusalRecorder(Generic[T]):
    """Logs each refusal at once and writes its audit row from one background thread.

    A flood of refused connections must neither wait on the database nor make the accept loop
    wait, nor take the database's write lock from the stores once per refusal: rows are written
    in batches (``write(*refusals)``), the queue is bounded, and refusals beyond it are counted
    and recorded as one row.
    """

    def __init__(
        self, write: Callable[..., None], summary: Callable[[int], T], capacity: int = 10_000
    ) -> None:
        self._write = write
        self._summary = summary
        self._queue: queue.Queue[T | None] = queue.Queue(capacity)
        self._dropped = 0
        self.count = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(self, refusal: T) -> None:
        logger.warning(
            "refused: %s",
            refusal.detail,
            extra={
                "event": refusal.kind,
                "peer": refusal.peer,
                "calling_ae": getattr(refusal, "calling_ae", None),
            },
        )
        self.count += 1
        try:
            self._queue.put_nowait(refusal)
        except queue.Full:
            with self._lock:
                self._dropped += 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cervi-audit", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every refusal recorded so far has been written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(_Marker(done))  # type: ignore[arg-type]
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            refusals = [r for r in batch if r is not None and not isinstance(r, _Marker)]
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                refusals.append(self._summary(dropped))
            if refusals:
                self._safely(refusals)
            for item in batch:
                if isinstance(item, _Marker):
                    item.done.set()
            if batch[-1] is None:
                return

    def _safely(self, refusals: list[T]) -> None:
        try:
            self._write(*refusals)
        except Exception:
            logger.exception("could not record refusals", extra={"event": "audit_failed"})


@dataclass(frozen=True)
class _Marker:
    done: threading.Event
