"""The deliveries repository: the outbox. A row per (object, destination), due at once when
queued; each attempt's outcome moves it to ``delivered``, ``failed`` or a later due time.

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller. The retry policy (how long to wait, how often to try) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.tables import Delivery, DeliveryState, utcnow


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
    """Pending outbox rows whose next attempt is due, oldest first."""
    query = (
        select(Delivery)
        .where(Delivery.state == DeliveryState.PENDING.value, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def next_due(session: Session) -> datetime | None:
    """When the earliest pending delivery is due (None when the outbox is empty)."""
    query = select(func.min(Delivery.next_attempt_at)).where(
        Delivery.state == DeliveryState.PENDING.value
    )
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
) -> None:
    """One attempt at the rows ``ids``: delivered; failed for good (``permanent``, or the
    ``max_attempts``-th try); or due again after ``delay(attempts)``."""
    for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(ids))):
        delivery.attempts += 1
        delivery.last_error = None if delivered else detail
        if delivered:
            delivery.state = DeliveryState.DELIVERED.value
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif permanent or delivery.attempts >= max_attempts:
            delivery.state = DeliveryState.FAILED.value
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + delay(delivery.attempts)


def make_due(session: Session, delivery_id: int, now: datetime) -> bool:
    """A failed or waiting delivery due again now (one already delivered stays so); False for
    an unknown id."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    if delivery.state != DeliveryState.DELIVERED.value:
        delivery.state = DeliveryState.PENDING.value
        delivery.next_attempt_at = now
    return True
