"""Storage Commitment Push Model, the SCU side (DICOM PS3.4 Annex J).

After its C-STOREs Cervi asks the PACS with an N-ACTION (Request Storage Commitment, action
type 1) to take responsibility for the instances under a transaction UID. The PACS answers
later with an N-EVENT-REPORT (event type 1: all committed, 2: some failed), usually on a new
association to Cervi's listener (the PACS proposes the SOP class in the SCP role), sometimes on
the same association. Both paths end in :func:`handle_event_report`, which hands a parsed
:class:`CommitmentReport` to a :class:`CommitmentSink`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel, StorageCommitmentPushModelInstance

logger = logging.getLogger("cervi.commitment")

REQUEST_COMMITMENT = 1  # N-ACTION Action Type ID, PS3.4 J.3.2
COMMITTED = 1  # N-EVENT-REPORT Event Type ID: storage commitment request successful
FAILURES_EXIST = 2  # N-EVENT-REPORT Event Type ID: some instances were not committed


class ReportStatus(enum.IntEnum):
    """Statuses Cervi answers an N-EVENT-REPORT with (PS3.7 Annex C)."""

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_EVENT_TYPE = 0x0113
    INVALID_ARGUMENT_VALUE = 0x0115


@dataclass(frozen=True)
class Reference:
    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True)
class CommitmentReport:
    """What the PACS said about one transaction: committed and failed instances."""

    transaction_uid: str
    committed: tuple[str, ...]
    failed: tuple[tuple[str, int | None], ...]  # (SOP Instance UID, Failure Reason)

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> CommitmentReport:
        """Parse the Event Information of an N-EVENT-REPORT (PS3.4 J.3.3.1)."""
        transaction_uid = str(getattr(dataset, "TransactionUID", "") or "")
        if not transaction_uid:
            raise ValueError('Argument "dataset" has no TransactionUID.')
        committed = tuple(
            str(item.ReferencedSOPInstanceUID)
            for item in getattr(dataset, "ReferencedSOPSequence", [])
        )
        failed = tuple(
            (
                str(item.ReferencedSOPInstanceUID),
                int(item.FailureReason) if "FailureReason" in item else None,
            )
            for item in getattr(dataset, "FailedSOPSequence", [])
        )
        return cls(transaction_uid, committed, failed)


class CommitmentSink(Protocol):
    """Where reports go (``cervi.commitment`` records them on the deliveries)."""

    def report(self, report: CommitmentReport, calling_ae: str, peer: str) -> bool:
        """Record ``report``; False when the transaction UID is not Cervi's."""
        ...


def request_dataset(transaction_uid: str, references: Sequence[Reference]) -> Dataset:
    """The N-ACTION Action Information: the transaction and the instances to commit."""
    if not references:
        raise ValueError('Argument "references" must name at least one instance.')
    dataset = Dataset()
    dataset.TransactionUID = transaction_uid
    items = []
    for reference in references:
        item = Dataset()
        item.ReferencedSOPClassUID = reference.sop_class_uid
        item.ReferencedSOPInstanceUID = reference.sop_instance_uid
        items.append(item)
    dataset.ReferencedSOPSequence = items
    return dataset


def request_commitment(
    assoc: Association, transaction_uid: str, references: Sequence[Reference]
) -> int:
    """Send the N-ACTION on an established association; return its status (-1: no answer)."""
    status, _ = assoc.send_n_action(
        request_dataset(transaction_uid, references),
        REQUEST_COMMITMENT,
        StorageCommitmentPushModel,
        StorageCommitmentPushModelInstance,
    )
    return int(getattr(status, "Status", -1))


def accept_reports(ae: AE) -> None:
    """Let the listener take N-EVENT-REPORTs: the PACS proposes Storage Commitment with itself
    in the SCP role (role selection, PS3.7 D.3.3.4), which is accepted."""
    ae.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)


def report_handler(sink: CommitmentSink) -> tuple[Any, Any, list[CommitmentSink]]:
    """The ``evt_handlers`` entry that routes N-EVENT-REPORTs to ``sink``."""
    return (evt.EVT_N_EVENT_REPORT, handle_event_report, [sink])


def handle_event_report(event: Event, sink: CommitmentSink) -> tuple[int, None]:
    """Parse a storage commitment report, hand it to ``sink``, answer with a status."""
    request = event.request
    calling = str(event.assoc.requestor.ae_title).strip()
    peer = str(getattr(event.assoc.requestor, "address", "") or "")
    if str(request.AffectedSOPClassUID) != StorageCommitmentPushModel:
        return ReportStatus.PROCESSING_FAILURE, None
    if request.EventTypeID not in (COMMITTED, FAILURES_EXIST):
        logger.warning(
            "commitment report of unknown type",
            extra={"event": "commitment_bad_report", "calling_ae": calling, "peer": peer},
        )
        return ReportStatus.NO_SUCH_EVENT_TYPE, None
    try:
        report = CommitmentReport.from_dataset(event.event_information)
    except Exception as exc:
        logger.warning(
            "commitment report not understood: %s",
            type(exc).__name__,
            extra={"event": "commitment_bad_report", "calling_ae": calling, "peer": peer},
        )
        return ReportStatus.INVALID_ARGUMENT_VALUE, None
    try:
        known = sink.report(report, calling, peer)
    except Exception:
        logger.exception("could not record the commitment report")
        return ReportStatus.PROCESSING_FAILURE, None
    if not known:
        logger.warning(
            "commitment report for an unknown transaction",
            extra={
                "event": "commitment_unknown",
                "transaction_uid": report.transaction_uid,
                "calling_ae": calling,
                "peer": peer,
            },
        )
        return ReportStatus.INVALID_ARGUMENT_VALUE, None
    return ReportStatus.SUCCESS, None
