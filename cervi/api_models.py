"""Response models of the HTTP API (they make the OpenAPI schema precise)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FindingOut(BaseModel):
    label: str
    probability: float
    threshold: float
    present: bool


class MeasurementOut(BaseModel):
    name: str  # e.g. "adi_mm"
    scope: str  # "view" | "study"
    view: str | None  # the view it is read on; None for a change over the views
    value: float
    unit: str  # UCUM: "mm", "deg"


class MeasurementDetail(MeasurementOut):
    lines: list[list[list[float]]]  # what it is measured between, in the view's image pixels


class RegionOut(BaseModel):
    view: str
    sop_instance_uid: str
    box: list[float]
    landmarks: dict[str, list[float]]


class DomainScoreOut(BaseModel):
    """The model's domain gate on one view: refused when ``distance`` exceeds ``threshold``
    (``distance`` null: not finite)."""

    view: str
    sop_instance_uid: str
    distance: float | None
    threshold: float
    in_domain: bool


class DeliveryOut(BaseModel):
    id: int
    destination: str
    sop_instance_uid: str
    state: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    delivered_at: str | None
    committed_at: str | None = Field(
        None, description="when the destination confirmed storage commitment"
    )


class ResultSummary(BaseModel):
    version: int
    outcome: str
    reason: str | None
    reason_code: str | None
    model_name: str | None
    model_version: str | None
    views_used: list[str]
    created_at: str
    findings: list[FindingOut]
    measurements: list[MeasurementOut]


class ResultDetail(ResultSummary):
    model_sha256: str | None
    latency_ms: float | None
    sr_sop_instance_uid: str | None
    measurements: list[MeasurementDetail]  # type: ignore[assignment]
    regions: list[RegionOut]
    domain: list[DomainScoreOut]
    deliveries: list[DeliveryOut]


class StudySummary(BaseModel):
    study_uid: str
    patient_id: str
    accession_number: str | None
    study_date: str | None
    state: str
    state_reason: str | None
    last_arrival_at: str
    result: ResultSummary | None


class StudyList(BaseModel):
    total: int | None  # null when asked with count=false
    limit: int
    offset: int
    next_cursor: str | None  # pass as cursor for the next page; null on the last page
    items: list[StudySummary]


class InstanceOut(BaseModel):
    sop_instance_uid: str
    series_uid: str
    sop_class_uid: str
    view: str
    view_rule: str | None
    superseded: bool
    received_at: str


class StudyDetail(BaseModel):
    study_uid: str
    patient_id: str
    accession_number: str | None
    study_date: str | None
    state: str
    state_reason: str | None
    last_arrival_at: str
    due_at: str | None
    instances: list[InstanceOut]
    results: list[ResultDetail]


class Accepted(BaseModel):
    detail: str
