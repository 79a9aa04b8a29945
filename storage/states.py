"""The study state machine, in one place: the states, which moves are allowed, and the one
function that moves a study row (docs/views.md, "When a study is analysed").

``receiving`` -> ``ready`` -> ``processing`` -> ``analysed`` | ``not_analysed`` | ``failed``,
plus ``ignored`` for studies that are not cervical spine radiographs. A study is re-opened
(back to ``receiving``) by a newly taken instance after it left ``receiving``, or by a reprocess
request. The conditional UPDATEs that guard versions (``storage.studies``) take their source
states from here too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol


class StudyState(enum.StrEnum):
    RECEIVING = "receiving"
    READY = "ready"
    PROCESSING = "processing"
    ANALYSED = "analysed"
    NOT_ANALYSED = "not_analysed"
    FAILED = "failed"
    IGNORED = "ignored"


class NotAnalysedReason(enum.StrEnum):
    """Why a version was not analysed, as ``results.reason_code`` records it and ``/metrics``
    counts it (the free-text ``reason`` says the same for people, naming the views)."""

    MISSING_VIEWS = "missing_views"  # assembly gave up waiting (quiet timer, too few views)
    NO_VIEW = "no_view_identified"
    UNREADABLE = "unreadable_view"
    OUTSIDE_DOMAIN = "outside_domain"  # the model's domain gate refused a view


_S = StudyState

#: A version on its way through analysis: the states its outcome may be written over.
IN_ANALYSIS = frozenset({_S.READY, _S.PROCESSING})
#: Outcomes of a version (also written by assembly: ``not_analysed`` straight from ``receiving``).
OUTCOMES = frozenset({_S.ANALYSED, _S.NOT_ANALYSED, _S.FAILED})
#: States after which a newly taken instance opens a new result version.
REOPENING = frozenset({_S.READY, _S.PROCESSING} | OUTCOMES)

#: The allowed moves (staying in a state is always allowed).
TRANSITIONS: Mapping[StudyState, frozenset[StudyState]] = MappingProxyType(
    {
        _S.RECEIVING: frozenset({_S.READY, _S.NOT_ANALYSED, _S.IGNORED}),
        _S.READY: frozenset({_S.PROCESSING, _S.RECEIVING} | OUTCOMES),
        _S.PROCESSING: frozenset({_S.READY, _S.RECEIVING} | OUTCOMES),
        _S.ANALYSED: frozenset({_S.RECEIVING}),
        # a not-analysed version whose report could not be made
        _S.NOT_ANALYSED: frozenset({_S.RECEIVING, _S.FAILED}),
        _S.FAILED: frozenset({_S.RECEIVING}),
        _S.IGNORED: frozenset({_S.RECEIVING}),
    }
)


class IllegalTransition(Exception):
    """A move the state machine does not allow (a bug in the caller, never bad input)."""


class _HasState(Protocol):
    state: str
    state_reason: str | None


def allowed(current: str, new: str) -> bool:
    return current == new or StudyState(new) in TRANSITIONS[StudyState(current)]


def sources(new: StudyState) -> frozenset[StudyState]:
    """The states from which ``new`` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)


def reopens(state: str) -> bool:
    """Whether an instance taken into a study in ``state`` starts a new result version."""
    return state in REOPENING


def move(study: _HasState, new: StudyState, reason: str | None = None) -> None:
    """Set a loaded study row's state (and reason), if the machine allows the move."""
    if not allowed(study.state, new):
        raise IllegalTransition(f"study state {study.state} -> {new.value} is not allowed")
    study.state, study.state_reason = new.value, reason
