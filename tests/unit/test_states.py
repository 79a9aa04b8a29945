"""The study state machine (storage.states): allowed moves, refused moves, re-opening."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from storage import states
from storage.states import IllegalTransition, StudyState


@dataclass
class Row:
    state: str
    state_reason: str | None = None


def test_the_designed_path_and_reopening_are_allowed() -> None:
    row = Row(StudyState.RECEIVING.value)
    for new in (StudyState.READY, StudyState.PROCESSING, StudyState.ANALYSED):
        states.move(row, new, f"to {new}")
        assert row.state == new.value and row.state_reason == f"to {new}"
    states.move(row, StudyState.RECEIVING)
    assert row.state == "receiving" and row.state_reason is None


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (StudyState.RECEIVING, StudyState.ANALYSED),
        (StudyState.RECEIVING, StudyState.PROCESSING),
        (StudyState.ANALYSED, StudyState.FAILED),
        (StudyState.IGNORED, StudyState.READY),
    ],
)
def test_moves_outside_the_machine_are_refused(current: StudyState, new: StudyState) -> None:
    row = Row(current.value, "kept")
    with pytest.raises(IllegalTransition, match=f"{current.value} -> {new.value}"):
        states.move(row, new)
    assert row.state == current.value and row.state_reason == "kept"


def test_sources_and_reopening_states() -> None:
    assert states.sources(StudyState.PROCESSING) == {StudyState.READY}
    assert states.sources(StudyState.FAILED) == {
        StudyState.READY,
        StudyState.PROCESSING,
        StudyState.NOT_ANALYSED,
    }
    assert states.reopens("analysed") and states.reopens("failed") and states.reopens("ready")
    assert not states.reopens("receiving") and not states.reopens("ignored")
