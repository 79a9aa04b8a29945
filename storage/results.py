"""The results repository: result versions with their findings (one per label), regions (one
per analysed view), measurements and domain scores (one per view the model's gate measured), as
the pipeline writes them and reads them back.

Each function takes an open :class:`~sqlalchemy.orm.Session` and leaves the commit to the
caller. The arguments are small Protocols that :mod:`inference.result`'s types satisfy, so
that storage needs nothing of inference's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables import DomainScore, Finding, MeasurementRow, Region, Result, Study


class ModelLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str: ...


class LabelLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def present(self) -> bool: ...


class RegionLike(Protocol):
    @property
    def box(self) -> tuple[float, float, float, float]: ...
    @property
    def landmarks(self) -> Mapping[str, tuple[float, float]]: ...


class MeasurementLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def unit(self) -> str: ...
    @property
    def view(self) -> str | None: ...
    @property
    def per_view(self) -> bool: ...
    @property
    def lines(self) -> Sequence[Sequence[tuple[float, float]]]: ...


class DomainLike(Protocol):
    @property
    def distance(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def in_domain(self) -> bool: ...


@dataclass(frozen=True)
class NewResult:
    """One result version as it is to be stored; ``regions`` and ``domain`` by view, ``sources``
    the SOP Instance UID of each view's image; ``reason_code`` a NotAnalysedReason value."""

    version: int
    outcome: str
    reason: str | None
    model: ModelLike
    views_used: Sequence[str]
    latency_ms: float | None
    sr_sop_instance_uid: str
    sr_path: str
    created_at: datetime
    labels: Sequence[LabelLike] = ()
    regions: Mapping[str, RegionLike] | None = None
    sources: Mapping[str, str] | None = None
    measurements: Sequence[MeasurementLike] = ()
    reason_code: str | None = None
    domain: Mapping[str, DomainLike] | None = None


def add_result(session: Session, study_uid: str, new: NewResult) -> int:
    """Write the result row of ``new`` with its findings, regions, measurements and domain
    scores; returns the result id."""
    study_id = session.execute(select(Study.id).where(Study.study_uid == study_uid)).scalar_one()
    result = Result(
        study_id=study_id,
        version=new.version,
        outcome=new.outcome,
        reason=new.reason,
        reason_code=new.reason_code,
        model_name=new.model.name,
        model_version=new.model.version,
        model_sha256=new.model.sha256,
        views_used=list(new.views_used),
        latency_ms=new.latency_ms,
        sr_sop_instance_uid=new.sr_sop_instance_uid,
        sr_path=new.sr_path,
        created_at=new.created_at,
    )
    session.add(result)
    session.flush()
    session.add_all(
        Finding(
            result_id=result.id,
            label=label.key,
            probability=label.probability,
            threshold=label.threshold,
            present=label.present,
        )
        for label in new.labels
    )
    sources = new.sources or {}
    session.add_all(
        Region(
            result_id=result.id,
            sop_instance_uid=sources[view],
            view=view,
            x0=region.box[0],
            y0=region.box[1],
            x1=region.box[2],
            y1=region.box[3],
            landmarks={k: list(v) for k, v in region.landmarks.items()},
        )
        for view, region in (new.regions or {}).items()
    )
    session.add_all(
        MeasurementRow(
            result_id=result.id,
            name=m.key,
            scope="view" if m.per_view else "study",
            view=m.view,
            value=m.value,
            unit=m.unit,
            sop_instance_uid=sources.get(m.view) if m.view else None,
            lines=[[list(point) for point in line] for line in m.lines],
        )
        for m in new.measurements
    )
    session.add_all(
        DomainScore(
            result_id=result.id,
            sop_instance_uid=sources[view],
            view=view,
            distance=score.distance if math.isfinite(score.distance) else None,
            threshold=score.threshold,
            in_domain=score.in_domain,
        )
        for view, score in (new.domain or {}).items()
    )
    session.flush()
    return result.id


def result_of(session: Session, study_uid: str, version: int) -> Result | None:
    """The result row of a study's version, if one was written."""
    return session.execute(
        select(Result)
        .join(Study, Study.id == Result.study_id)
        .where(Study.study_uid == study_uid, Result.version == version)
    ).scalar_one_or_none()


def previous_sr_path(session: Session, study_uid: str, version: int) -> str | None:
    """The SR file of the newest version before ``version`` that has one."""
    return session.execute(
        select(Result.sr_path)
        .join(Study, Study.id == Result.study_id)
        .where(
            Study.study_uid == study_uid,
            Result.version < version,
            Result.sr_path.is_not(None),
        )
        .order_by(Result.version.desc())
        .limit(1)
    ).scalar_one_or_none()
