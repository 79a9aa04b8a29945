"""The listener's durable sink: instance files in the store, rows in the results database.

Order of a store: check free space, write the file (fsync, rename, fsync folder), commit the row,
only then report success to the listener, which acknowledges. A failed commit removes the new
file, so nothing half-written remains; a replaced copy's old file is removed after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dicom_node.scp import ReceivedInstance, Rejection, StoreFailed, StoreOutcome, StoreRefused
from storage.db import transaction
from storage.files import InstanceStore, InvalidUID, StoreWriteError
from storage.instances import (
    InstanceRecord,
    Recorded,
    RecordOutcome,
    add_audit,
    instance_digest,
    record_instance,
)

logger = logging.getLogger("cervi.ingest")


@dataclass(frozen=True)
class StoredInstance:
    """Handed to the after-commit hook (study assembly) once an instance is durable."""

    received: ReceivedInstance
    outcome: RecordOutcome


class DatabaseSink:
    """:class:`dicom_node.scp.InstanceSink` backed by ``storage``."""

    def __init__(
        self,
        files: InstanceStore,
        sessions: sessionmaker[Session],
        min_free_disk_mb: float,
        after_commit: Callable[[StoredInstance], None] | None = None,
    ) -> None:
        self.files = files
        self.sessions = sessions
        self.min_free_disk_mb = min_free_disk_mb
        self.after_commit = after_commit

    def has_space(self) -> bool:
        return self.files.free_mb() >= self.min_free_disk_mb

    def store(self, received: ReceivedInstance) -> StoreOutcome:
        if not self.has_space():
            raise StoreFailed("free disk below storage.min_free_disk_mb")
        meta = received.meta
        try:
            # Content-addressed names: an identical resend finds its file and writes nothing.
            stored = self.files.put(
                meta.study_uid, meta.series_uid, meta.sop_instance_uid, received.data
            )
        except (StoreWriteError, InvalidUID) as exc:
            raise StoreFailed(str(exc)) from exc

        record = InstanceRecord(
            study_uid=meta.study_uid,
            series_uid=meta.series_uid,
            sop_instance_uid=meta.sop_instance_uid,
            sop_class_uid=meta.sop_class_uid,
            transfer_syntax_uid=received.transfer_syntax_uid,
            patient_id=meta.patient_id,
            accession_number=meta.accession_number,
            study_date=meta.study_date,
            modality=meta.modality,
            calling_ae=received.calling_ae,
            header=meta.header,
            path=str(stored.path),
            sha256=stored.sha256,
            size=stored.size,
        )
        outcome = self._commit(record)
        if outcome.recorded is Recorded.SAME:
            return StoreOutcome.DUPLICATE
        if outcome.replaced_path and outcome.replaced_path != record.path:
            self.files.remove(outcome.replaced_path)
        if self.after_commit is not None:
            try:
                self.after_commit(StoredInstance(received, outcome))
            except Exception:
                # The instance is durable and will be picked up by reconciliation.
                logger.exception(
                    "after-commit hook failed", extra={"sop_instance_uid": meta.sop_instance_uid}
                )
        if outcome.recorded is Recorded.REPLACED:
            return StoreOutcome.REPLACED
        return StoreOutcome.STORED

    def _commit(self, record: InstanceRecord) -> RecordOutcome:
        for attempt in (1, 2):
            try:
                with transaction(self.sessions) as session:
                    return record_instance(session, record)
            except IntegrityError:
                # A concurrent association inserted the same instance or study: try once more.
                if attempt == 2:
                    self._discard(record)
                    raise StoreFailed("database conflict on commit") from None
            except DataError as exc:
                # A value the database cannot hold: the same data would fail again.
                self._discard(record)
                raise StoreRefused(f"database refused a value: {type(exc).__name__}") from exc
            except SQLAlchemyError as exc:
                self._discard(record)
                raise StoreFailed(f"database commit failed: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def _discard(self, record: InstanceRecord) -> None:
        with self.sessions() as session:
            known = instance_digest(session, record.sop_instance_uid)
        if known is None or known[1] != record.path:
            self.files.remove(record.path)

    def reject(self, *rejections: Rejection) -> None:
        """Audit rows for refusals, in one transaction however many (a flood of refused
        connections must not take the database's write lock from the stores)."""
        with transaction(self.sessions) as session:
            for rejection in rejections:
                add_audit(
                    session,
                    rejection.kind,
                    calling_ae=(rejection.calling_ae or "")[:16] or None,
                    peer=(rejection.peer or "")[:64] or None,
                    status=rejection.status,
                    study_uid=rejection.study_uid,
                    sop_instance_uid=rejection.sop_instance_uid,
                    detail=rejection.detail,
                )
