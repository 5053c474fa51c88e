"""Lifecycle rules: one table of allowed transitions, terminal states are final."""

from __future__ import annotations

import dataclasses

import pytest

from whisper_ui.domain import (
    TERMINAL,
    InvalidTransition,
    JobStatus,
    Segment,
    Transcript,
    TranscriptInfo,
    check_transition,
)


@pytest.mark.parametrize("terminal", sorted(TERMINAL, key=lambda s: s.value))
def test_terminal_states_are_final(terminal: JobStatus) -> None:
    for target in JobStatus:
        with pytest.raises(InvalidTransition):
            check_transition(terminal, target)


def test_normal_path_and_oom_requeue() -> None:
    assert check_transition(JobStatus.QUEUED, JobStatus.RUNNING) is JobStatus.RUNNING
    assert check_transition(JobStatus.RUNNING, JobStatus.QUEUED) is JobStatus.QUEUED
    assert check_transition(JobStatus.RUNNING, JobStatus.COMPLETED) is JobStatus.COMPLETED
    with pytest.raises(InvalidTransition):
        check_transition(JobStatus.QUEUED, JobStatus.COMPLETED)


def test_values_are_frozen_and_text_joins_segments() -> None:
    t = Transcript(
        TranscriptInfo("en", 1.0, 2.0), (Segment(0, 0, 1, " Hello"), Segment(1, 1, 2, " world. "))
    )
    assert t.text == "Hello world."
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.source_name = "x"  # type: ignore[misc]
