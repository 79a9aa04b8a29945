"""Study assembly, pure: which study an instance belongs to, which view it shows, whether it is
taken at all, whether its study is complete and what the quiet timer does (docs/views.md).

Everything here takes plain instance metadata and a clock value ``now`` and returns decisions;
it opens no socket, file or session. ``cervi.assembler`` applies the decisions to the database
and the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from dicom_node import identity
from dicom_node.assembly_rules import (
    CODE_FIELDS,
    DEFAULT_ACCEPT_RULES,
    DEFAULT_VIEW_RULES,
    SECONDARY_CAPTURE_SOP_CLASS,
    SR_SOP_CLASS_PREFIX,
    VIEWS,
    AcceptRule,
    View,
    ViewRule,
)
from dicom_node.instance import InstanceMeta

OnTimeout = Literal["analyse_partial", "not_analysed"]
StudyKeyMode = Literal["study", "patient_window"]


@dataclass(frozen=True)
class AssemblyConfig:
    """What assembly is told; ``cervi.assembler.assembly_config`` builds it from the settings."""

    quiet_seconds: float = 120
    min_views: int = 3
    on_timeout: OnTimeout = "analyse_partial"
    study_key: StudyKeyMode = "study"
    patient_window: timedelta = timedelta(hours=24)
    view_rules: tuple[ViewRule, ...] = DEFAULT_VIEW_RULES
    accept_rules: tuple[AcceptRule, ...] = DEFAULT_ACCEPT_RULES
    own_manufacturer: str = identity.MANUFACTURER

    def __post_init__(self) -> None:
        if not 1 <= self.min_views <= len(VIEWS):
            raise ValueError('Argument "min_views" must be 1, 2 or 3.')
        if self.quiet_seconds <= 0:
            raise ValueError('Argument "quiet_seconds" must be positive.')


# --- one instance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceDecision:
    """Taken or ignored (with the reason), and the view with the rule that decided it."""

    accepted: bool
    view: View = View.UNKNOWN
    rule: str | None = None
    reason: str | None = None


def rule_values(meta: InstanceMeta, name: str) -> tuple[str, ...]:
    """The values a rule over field ``name`` reads (see ``dicom_node.assembly_rules``)."""
    if name == "SOPClassUID":
        return (meta.sop_class_uid,)
    header = meta.header
    if name == "Modality" and "Modality" not in header and meta.modality:
        return (meta.modality,)
    sequence, _, part = name.partition(".")
    if sequence in CODE_FIELDS:
        codes = _codes(header, sequence)
        if part == "CodeMeaning":
            return tuple(c["meaning"] for c in codes if c.get("meaning"))
        return tuple(f"{c['scheme']}:{c['value']}" for c in codes)
    value = header.get(name)
    return () if value is None or value == "" else (str(value),)


def _codes(header: dict[str, Any], sequence: str) -> list[dict[str, Any]]:
    """``instance.header_fields`` keeps view modifiers inside ViewCodeSequence, flagged."""
    if sequence == "ViewModifierCodeSequence":
        return [c for c in header.get("ViewCodeSequence", []) if c.get("modifier")]
    if sequence == "ViewCodeSequence":
        return [c for c in header.get("ViewCodeSequence", []) if not c.get("modifier")]
    return list(header.get(sequence, []))


def own_output_reason(meta: InstanceMeta, manufacturer: str = identity.MANUFACTURER) -> str | None:
    """Why ``meta`` is not an image to analyse because it is a report or Cervi's own output."""
    made_by_cervi = any(
        v.strip().casefold() == manufacturer.casefold() for v in rule_values(meta, "Manufacturer")
    )
    if meta.sop_class_uid.startswith(SR_SOP_CLASS_PREFIX):
        return "Cervi's own structured report" if made_by_cervi else "a structured report"
    if made_by_cervi:
        if meta.sop_class_uid == SECONDARY_CAPTURE_SOP_CLASS:
            return "Cervi's own key image"
        return "Cervi's own output"
    return None


def acceptance_reason(meta: InstanceMeta, rules: Sequence[AcceptRule]) -> str | None:
    """None when every rule group accepts ``meta``; else why it is ignored (names, no values)."""
    groups: dict[str, AcceptRule | None] = {}
    for rule in rules:
        if rule.group in groups and groups[rule.group] is not None:
            continue
        groups.setdefault(rule.group, None)
        if rule.matches(rule_values(meta, rule.field)) is not None:
            groups[rule.group] = rule
    for group, decided in groups.items():
        if decided is None:
            return f"not taken: no {group} rule matched"
        if not decided.accept:
            return f"not taken: {group} rule {decided.name!r} excludes it"
    return None


def identify_view(meta: InstanceMeta, rules: Sequence[ViewRule]) -> tuple[View, str | None]:
    """The view of ``meta`` and the name of the rule that decided it; ``unknown`` when none did.

    A value that matches rules for both flexion and extension (e.g. "Flex/Ext") decides nothing;
    a neutral rule matching as well does not count against flexion or extension.
    """
    for rule in rules:
        values = rule_values(meta, rule.field)
        value = rule.matches(values)
        if value is None or _contradicted(rule, value, rules):
            continue
        return rule.view, rule.name
    return View.UNKNOWN, None


def _contradicted(rule: ViewRule, value: str, rules: Sequence[ViewRule]) -> bool:
    return any(
        other.field == rule.field
        and other.view not in (rule.view, View.NEUTRAL)
        and other.regex.search(value)
        for other in rules
    )


def decide_instance(meta: InstanceMeta, config: AssemblyConfig) -> InstanceDecision:
    """Whether ``meta`` enters the assembly, and as which view."""
    reason = own_output_reason(meta, config.own_manufacturer) or acceptance_reason(
        meta, config.accept_rules
    )
    if reason is not None:
        return InstanceDecision(accepted=False, reason=reason)
    view, rule = identify_view(meta, config.view_rules)
    return InstanceDecision(accepted=True, view=view, rule=rule)


def patient_conflict(meta: InstanceMeta, study_patient_id: str) -> str | None:
    """An instance whose PatientID differs from its study's is never mixed into that study."""
    if meta.patient_id != study_patient_id:
        return "not taken: PatientID differs from the study's"
    return None


# --- which study (group) --------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCandidate:
    """An existing assembly group of the same patient and when its study was taken."""

    group_id: int
    anchor: datetime


def study_datetime(header: dict[str, Any]) -> datetime | None:
    """StudyDate + StudyTime as a naive datetime (DICOM local time), or None."""
    date = str(header.get("StudyDate") or "").strip()
    time = str(header.get("StudyTime") or "").strip().split(".")[0].replace(":", "")
    if len(date) != 8 or not date.isdigit():
        return None
    time = (time + "000000")[:6] if time.isdigit() else "000000"
    try:
        return datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError:
        return None


def choose_group(
    anchor: datetime, candidates: Iterable[GroupCandidate], config: AssemblyConfig
) -> int | None:
    """With ``study_key: patient_window``, the closest group within the window; None = a new one.

    The candidates are the patient's other groups, with anchors of the same kind as ``anchor``
    (all DICOM study times, or all arrival times).
    """
    if config.study_key != "patient_window":
        return None
    inside = [c for c in candidates if abs(c.anchor - anchor) <= config.patient_window]
    if not inside:
        return None
    return min(inside, key=lambda c: (abs(c.anchor - anchor), c.group_id)).group_id


# --- one study ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """An accepted instance of a study, as assembly sees it."""

    sop_instance_uid: str
    view: View
    received_at: datetime
    sequence: int = 0
    acquired: str | None = None  # normalised acquisition date-time, when the header has one
    tentative: bool = False  # its view came from a tentative rule (a bare "lateral")


def acquired_at(header: dict[str, Any]) -> str | None:
    """A sortable acquisition date-time: AcquisitionDateTime, else ContentDate + ContentTime."""
    text = str(header.get("AcquisitionDateTime") or "").strip()
    if not text:
        date = str(header.get("ContentDate") or "").strip()
        time = str(header.get("ContentTime") or "").strip()
        text = date + time if date else ""
    digits = "".join(c for c in text.split("+")[0].split("-")[0] if c.isdigit() or c == ".")
    if len(digits) < 8:
        return None
    whole, _, fraction = digits.partition(".")
    return f"{(whole + '0' * 14)[:14]}.{(fraction + '0' * 6)[:6]}"


@dataclass(frozen=True)
class Assessment:
    """The views a study has: one chosen instance per view, repeats superseded."""

    chosen: dict[View, str] = field(default_factory=dict)
    superseded: frozenset[str] = frozenset()
    unknown: tuple[str, ...] = ()

    @property
    def present(self) -> tuple[View, ...]:
        return tuple(v for v in VIEWS if v in self.chosen)

    @property
    def missing(self) -> tuple[View, ...]:
        return tuple(v for v in VIEWS if v not in self.chosen)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def empty(self) -> bool:
        return not self.chosen and not self.unknown


def _recency(member: Member) -> tuple[str, datetime, int]:
    return (member.acquired or "", member.received_at, member.sequence)


def assess(members: Iterable[Member]) -> Assessment:
    """The latest exposure of each view wins (acquisition time, then arrival); others superseded.

    Views from tentative rules hold for one image; when several images claim one that way while
    the study lacks a view they could be, they are of unknown view and the images decide: "C-spine
    lat" on all three images of a dynamic study is no repeat of the neutral view.
    """
    members = _tentative_to_unknown(list(members))
    chosen: dict[View, Member] = {}
    superseded: set[str] = set()
    unknown: list[str] = []
    for member in sorted(members, key=_recency):
        if member.view == View.UNKNOWN:
            unknown.append(member.sop_instance_uid)
            continue
        previous = chosen.get(member.view)
        if previous is not None and previous.sop_instance_uid != member.sop_instance_uid:
            superseded.add(previous.sop_instance_uid)
        chosen[member.view] = member
    return Assessment(
        chosen={v: m.sop_instance_uid for v, m in chosen.items()},
        superseded=frozenset(superseded),
        unknown=tuple(unknown),
    )


def _tentative_to_unknown(members: list[Member]) -> list[Member]:
    tentative = [m for m in members if m.tentative and m.view != View.UNKNOWN]
    if len(tentative) < 2:
        return members
    firm = {m.view for m in members if not m.tentative and m.view != View.UNKNOWN}
    if firm | {m.view for m in tentative} >= set(VIEWS):
        return members  # nothing for them to be but repeats of the view they claim
    return [replace(m, view=View.UNKNOWN) if m in tentative else m for m in members]


class Step(StrEnum):
    DISPATCH = "dispatch"
    WAIT = "wait"
    NOT_ANALYSED = "not_analysed"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Plan:
    """What to do with a study now: dispatch (maybe partial), wait until ``due_at``, or report."""

    step: Step
    partial: bool = False
    due_at: datetime | None = None
    reason: str | None = None


def after_arrival(assessment: Assessment, now: datetime, config: AssemblyConfig) -> Plan:
    """After an arrival at ``now``: a complete study goes at once, and so does one whose images of
    unknown view are exactly as many as its missing views (three images, one per view, for the
    model to place); else the quiet timer is set."""
    if assessment.empty:
        return Plan(Step.IGNORE, reason="no instance was taken")
    if assessment.complete:
        return Plan(Step.DISPATCH)
    if assessment.unknown and len(assessment.unknown) == len(assessment.missing):
        return Plan(Step.DISPATCH, reason=_to_place(assessment))
    return Plan(Step.WAIT, due_at=now + timedelta(seconds=config.quiet_seconds))


def on_quiet_timer(assessment: Assessment, config: AssemblyConfig) -> Plan:
    """When the quiet period ends without a complete study.

    Instances no rule identified may still show a missing view (the model decides from the
    image), so they count towards ``min_views``, one per missing view at most.
    """
    if assessment.empty:
        return Plan(Step.IGNORE, reason="no instance was taken")
    if assessment.complete:
        return Plan(Step.DISPATCH)
    missing = ", ".join(assessment.missing)
    candidates = len(assessment.present) + min(len(assessment.unknown), len(assessment.missing))
    if config.on_timeout == "analyse_partial" and candidates >= config.min_views:
        reason = f"partial: missing {missing}"
        if assessment.unknown:
            reason += f"; {_to_place(assessment)}"
        return Plan(Step.DISPATCH, partial=True, reason=reason)
    return Plan(Step.NOT_ANALYSED, reason=f"not analysed: missing {missing}")


def _to_place(assessment: Assessment) -> str:
    return f"{len(assessment.unknown)} image(s) of unknown view for the model to place"
