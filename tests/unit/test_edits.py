"""The edit layer (jobs/edits.py): the pure rule, and Edits over a real registry, bus and
SQLite journal (a restart is a second JobStore on the same file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from whisper_ui.domain import (
    Job,
    JobEvent,
    JobStateError,
    JobStatus,
    Segment,
    SegmentEdited,
    TranscribeOptions,
    TranscriptInfo,
    Word,
)
from whisper_ui.export import render
from whisper_ui.jobs.edits import (
    MAX_TEXT_CHARS,
    EditError,
    EditNotSaved,
    Edits,
    NoSuchJob,
    check_edit,
)
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.jobs.store import JobStore

WORDS = (Word(0.0, 0.5, " Hello", 0.9), Word(0.5, 1.0, " world.", 0.9))
SEGMENTS = (
    Segment(0, 0.0, 1.0, " Hello world.", WORDS),
    Segment(1, 1.5, 2.5, " Second one."),
    Segment(2, 3.0, 4.0, " Third."),
)
INFO = TranscriptInfo("en", 0.99, 5.0)


def code(exc: pytest.ExceptionInfo[EditError]) -> str:
    return exc.value.code


# ---- the pure rule -------------------------------------------------------------------


def test_a_text_edit_keeps_the_times_and_drops_the_words_that_no_longer_match() -> None:
    new = check_edit(SEGMENTS, SEGMENTS[0], text="Hello, world!")
    assert (new.id, new.start, new.end, new.text, new.words) == (0, 0.0, 1.0, "Hello, world!", ())


def test_a_time_edit_keeps_the_model_s_words_they_still_say_where_each_was_heard() -> None:
    new = check_edit(SEGMENTS, SEGMENTS[0], start=0.2, end=1.4)
    assert (new.start, new.end, new.text, new.words) == (0.2, 1.4, " Hello world.", WORDS)


def test_touching_a_neighbour_is_allowed_overlapping_it_is_not() -> None:
    assert check_edit(SEGMENTS, SEGMENTS[1], start=1.0, end=3.0).end == 3.0
    with pytest.raises(EditError, match=r"start \(0.9 s\) overlaps segment 0") as before:
        check_edit(SEGMENTS, SEGMENTS[1], start=0.9)
    assert code(before) == "overlaps_previous"
    with pytest.raises(EditError, match=r"end \(3.1 s\) overlaps segment 2") as after:
        check_edit(SEGMENTS, SEGMENTS[1], end=3.1)
    assert code(after) == "overlaps_next"


def test_start_after_end_and_times_outside_the_recording_are_refused() -> None:
    with pytest.raises(EditError, match=r"start \(2.4 s\) is after end \(2 s\)") as reversed_:
        check_edit(SEGMENTS, SEGMENTS[1], start=2.4, end=2.0)
    assert code(reversed_) == "start_after_end"
    with pytest.raises(EditError) as late:
        check_edit(SEGMENTS, SEGMENTS[2], end=6.0, duration=5.0)
    assert code(late) == "past_the_end" and "recording (5 s)" in str(late.value)
    for bad in (-1.0, float("nan"), float("inf"), True):
        with pytest.raises(EditError) as exc:
            check_edit(SEGMENTS, SEGMENTS[1], start=bad)
        assert code(exc) == "invalid_time", bad


def test_text_over_the_bound_is_refused_naming_the_bound() -> None:
    assert check_edit(SEGMENTS, SEGMENTS[0], text="x" * MAX_TEXT_CHARS).text.startswith("x")
    for size in (MAX_TEXT_CHARS + 1, 2**20):
        with pytest.raises(EditError, match=f"{size} characters.*at most {MAX_TEXT_CHARS}"):
            check_edit(SEGMENTS, SEGMENTS[0], text="x" * size)


def test_an_empty_edit_or_a_missing_segment_is_refused() -> None:
    with pytest.raises(EditError) as empty:
        check_edit(SEGMENTS, SEGMENTS[0])
    assert code(empty) == "empty_edit"
    stray = Segment(7, 9.0, 9.5, " Not here.")
    with pytest.raises(EditError) as missing:
        check_edit(SEGMENTS, stray, text="x")
    assert code(missing) == "segment_not_found"


def test_fixing_the_text_of_a_segment_the_model_let_overlap_still_works() -> None:
    overlapping = (SEGMENTS[0], dataclasses.replace(SEGMENTS[1], start=0.8))
    assert check_edit(overlapping, overlapping[1], text="Fixed.").start == 0.8
    with pytest.raises(EditError):
        check_edit(overlapping, overlapping[1], start=0.7)


# ---- Edits over the registry, the bus and the journal ----------------------------------


def job(status: JobStatus = JobStatus.COMPLETED, submitter: str = "ann") -> Job:
    return Job("j1", "/x/talk.wav", "talk.wav", TranscribeOptions(), 5.0, "b", submitter, status)


def setup(
    store: JobStore | None, status: JobStatus = JobStatus.COMPLETED
) -> tuple[Edits, JobRegistry, list[JobEvent]]:
    registry, bus = JobRegistry(), EventBus()
    seen: list[JobEvent] = []
    bus.add_listener(seen.append)
    the_job = job(status)
    registry.add(the_job, SEGMENTS, INFO)
    if status is JobStatus.COMPLETED:
        registry.seal(the_job.id)
    if store is not None:
        store.save_job(the_job)
        for segment in SEGMENTS:
            store.add_segment(the_job.id, segment)
        store.set_info(the_job.id, INFO)
    return Edits(registry, bus, store), registry, seen


def test_an_edit_shows_in_every_export_and_the_original_stays(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    edits, registry, seen = setup(store)
    view = edits.apply("j1", 1, text=" Second 1.", owner="ann")
    assert view.edited and view.original == SEGMENTS[1]
    transcript = registry.transcript("j1")
    assert transcript is not None
    assert transcript.text == "Hello world. Second 1. Third."
    assert "Second 1." in render(transcript, "srt") and "Second 1." in render(transcript, "json")
    assert registry.original_transcript("j1").segments == SEGMENTS  # type: ignore[union-attr]
    (event,) = seen
    assert isinstance(event, SegmentEdited)
    assert (event.job_id, event.segment.text, event.original, event.edited, event.revision) == (
        "j1",
        " Second 1.",
        SEGMENTS[1],
        True,
        1,
    )
    assert edits.bus.history("j1") == []  # the job's own log is left as it ended
    listed = edits.segments("j1")
    assert [v.edited for v in listed] == [False, True, False]
    store.close()


def test_the_later_write_wins_and_giving_back_the_original_restores(tmp_path: Path) -> None:
    edits, registry, seen = setup(JobStore(tmp_path / "jobs.sqlite3"))
    edits.apply("j1", 0, text="first")
    edits.apply("j1", 0, text="second", end=1.2)
    assert registry.edits("j1")[0].text == "second" and registry.edits("j1")[0].end == 1.2
    edits.apply("j1", 0, text=" Hello world.", end=1.0)
    assert registry.edits("j1") == {} and registry.revision("j1") == 3
    assert [e.edited for e in seen if isinstance(e, SegmentEdited)] == [True, True, False]


def test_edits_survive_a_restart_and_restore_drops_them_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    edits, _, _ = setup(store)
    edits.apply("j1", 0, text="Hi there.")
    edits.apply("j1", 2, start=3.2)
    store.close()

    again = JobStore(path)
    (saved,) = again.load()
    assert saved.segments == SEGMENTS  # the model's, untouched
    assert [s.id for s in saved.edits] == [0, 2]
    registry = JobRegistry()
    registry.load_edits({saved.job.id: list(saved.edits)})
    registry.add(saved.job, saved.segments, saved.info)
    registry.seal(saved.job.id)
    transcript = registry.transcript("j1")
    assert transcript is not None and transcript.text.startswith("Hi there.")
    restored = Edits(registry, EventBus(), again)
    assert restored.restore("j1", 0).edited is False
    assert [s.id for s in again.load()[0].edits] == [2]
    assert [v.segment.id for v in restored.restore_all("j1")] == [2]
    assert again.load()[0].edits == () and registry.transcript("j1").segments == SEGMENTS  # type: ignore[union-attr]
    again.delete("j1")
    assert again.load() == []
    again.close()


def test_a_running_job_another_person_s_job_or_a_failed_save_change_nothing(
    tmp_path: Path,
) -> None:
    running, _, _ = setup(None, JobStatus.RUNNING)
    with pytest.raises(JobStateError, match=r"talk\.wav: the job is running"):
        running.apply("j1", 0, text="x")
    store = JobStore(tmp_path / "jobs.sqlite3")
    edits, registry, seen = setup(store)
    with pytest.raises(NoSuchJob):
        edits.apply("j1", 0, text="x", owner="bob")
    with pytest.raises(NoSuchJob):
        edits.apply("nope", 0, text="x")
    with pytest.raises(EditError, match="no segment 9: the transcript has segments 0 to 2"):
        edits.apply("j1", 9, text="x")
    store.close()  # a real failure to write: the database is gone
    with pytest.raises(EditNotSaved, match=r"talk\.wav: could not save the edit"):
        edits.apply("j1", 0, text="x")
    assert registry.edits("j1") == {} and registry.revision("j1") == 0 and seen == []
