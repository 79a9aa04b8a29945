"""Storage commitment on the outbox: the transaction a delivery was last asked under, and
what the destination's report says about it (``dicom_node.commitment`` parses the report)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables import Delivery, DeliveryState


def assign_transaction(session: Session, delivery_ids: Sequence[int], transaction_uid: str) -> None:
    """Name the transaction before the request goes out, so that a report arriving at once
    (before the sender returns) finds its deliveries."""
    for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(delivery_ids))):
        delivery.transaction_uid = transaction_uid


def record_report(
    session: Session,
    transaction_uid: str,
    committed: Iterable[str],
    failed: Iterable[tuple[str, int | None]],
    now: datetime,
    retry_at: datetime,
) -> int:
    """Mark the transaction's deliveries committed or due again; return how many matched.

    A committed delivery stays committed whatever comes later; a delivery the destination
    did not commit is sent again at ``retry_at`` with the failure reason as its error.
    """
    rows = {
        d.sop_instance_uid: d
        for d in session.scalars(
            select(Delivery).where(Delivery.transaction_uid == transaction_uid)
        )
    }
    matched = 0
    for sop_instance_uid in committed:
        delivery = rows.get(sop_instance_uid)
        if delivery is None:
            continue
        matched += 1
        delivery.state = DeliveryState.COMMITTED.value
        delivery.committed_at = now
        delivery.next_attempt_at = None
        delivery.last_error = None
    for sop_instance_uid, reason in failed:
        delivery = rows.get(sop_instance_uid)
        if delivery is None:
            continue
        matched += 1
        if delivery.state == DeliveryState.COMMITTED.value:
            continue
        code = f"0x{reason:04X}" if reason is not None else "not given"
        delivery.state = DeliveryState.PENDING.value
        delivery.next_attempt_at = retry_at
        delivery.last_error = f"destination did not commit the instance (reason {code})"
    return matched
