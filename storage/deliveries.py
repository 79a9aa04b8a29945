"""The deliveries repository: the outbox. A row per (object, destination), due at once when
queued; each attempt's outcome moves it to ``delivered``, ``failed`` or a later due time.
With storage commitment a sent row is ``committing`` until the destination's report makes it
``committed`` (or due again); unanswered by its deadline (``next_attempt_at``) it is due again.

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller. The retry policy (how long to wait, how often to try) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.tables import Delivery, DeliveryState, utcnow

# The rows the worker sends when due: pending ones, and those whose storage commitment was not
# answered by its deadline.
SENDABLE = (DeliveryState.PENDING.value, DeliveryState.COMMITTING.value)


def queue(
    session: Session,
    result_id: int,
    destination: str,
    sop_instance_uid: str,
    path: str,
    now: datetime | None = None,
) -> Delivery:
    """An outbox row: ``path`` is to reach ``destination``; due at once."""
    delivery = Delivery(
        result_id=result_id,
        destination=destination,
        sop_instance_uid=sop_instance_uid,
        path=path,
        state=DeliveryState.PENDING.value,
        attempts=0,
        next_attempt_at=now or utcnow(),
    )
    session.add(delivery)
    session.flush()
    return delivery


def due(session: Session, now: datetime, limit: int = 200) -> list[Delivery]:
    """Sendable outbox rows whose next attempt is due, oldest first."""
    query = (
        select(Delivery)
        .where(Delivery.state.in_(SENDABLE), Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def next_due(session: Session) -> datetime | None:
    """When the earliest sendable delivery is due (None when the outbox is empty)."""
    query = select(func.min(Delivery.next_attempt_at)).where(Delivery.state.in_(SENDABLE))
    return session.execute(query).scalar_one()


def record_attempt(
    session: Session,
    ids: Sequence[int],
    *,
    delivered: bool,
    permanent: bool,
    detail: str | None,
    now: datetime,
    max_attempts: int,
    delay: Callable[[int], timedelta],
    commitment_wait: timedelta | None = None,
) -> None:
    """One attempt at the rows ``ids``: delivered; failed for good (``permanent``, or the
    ``max_attempts``-th try); or due again after ``delay(attempts)``.

    With ``commitment_wait`` a delivered row is ``committing`` until a report or, unanswered,
    due again after that wait; a row whose report already came in stays ``committed``.
    """
    for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(ids))):
        if delivery.state == DeliveryState.COMMITTED.value:
            continue  # the report came back before this attempt was written
        unanswered = delivery.state == DeliveryState.COMMITTING.value
        delivery.attempts += 1
        delivery.last_error = None if delivered else detail
        if delivered and commitment_wait is not None:
            delivery.state = DeliveryState.COMMITTING.value
            delivery.delivered_at = now
            delivery.next_attempt_at = now + commitment_wait
            if unanswered:
                delivery.last_error = (
                    f"the previous commitment request had no answer within "
                    f"{commitment_wait.total_seconds():g} s"
                )
                if delivery.attempts >= max_attempts:  # a late report still commits it
                    delivery.state = DeliveryState.FAILED.value
                    delivery.next_attempt_at = None
        elif delivered:
            delivery.state = DeliveryState.DELIVERED.value
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif permanent or delivery.attempts >= max_attempts:
            delivery.state = DeliveryState.FAILED.value
            delivery.next_attempt_at = None
        else:
            delivery.state = DeliveryState.PENDING.value
            delivery.next_attempt_at = now + delay(delivery.attempts)


def make_due(session: Session, delivery_id: int, now: datetime) -> bool:
    """A failed or waiting delivery due again now (one already delivered or committed stays
    so); False for an unknown id."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    if delivery.state not in (DeliveryState.DELIVERED.value, DeliveryState.COMMITTED.value):
        delivery.state = DeliveryState.PENDING.value
        delivery.next_attempt_at = now
    return True


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
