"""Corrections: a person's edits of a finished job's segments, kept as a layer.

The model's segments stay as decoded (registry and journal); an edit is a whole new
segment value stored beside them, keyed by the segment's id, so restoring one segment
or all is dropping edits. `JobRegistry.transcript` lays the edits over the model's
segments, so every export, the jobs API and the page's downloads show them.

`check_edit` is the pure rule (what may change and what is refused); `Edits` is the
one way to apply an edit, shared by the API and the page, so both refuse the same
input with the same words. An edit is written to the journal first, then to the
registry, then announced (`SegmentEdited`): a failure to save changes nothing.
Like the registry, `Edits` is used from the event loop thread only (an async handler).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from whisper_ui.domain import TERMINAL, Job, JobStateError, Segment, SegmentEdited
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.registry import JobRegistry

MAX_NAME_CHARS = 60
MAX_TEXT_CHARS = 10_000
"""A segment is a sentence or two; ten thousand characters is far more than any
correction needs and keeps a pasted file (or a 1 MB body) out of the journal."""

# Neighbouring segments may touch; float noise from JSON round trips is not an overlap.
_EPSILON_S = 1e-6


class EditError(ValueError):
    """An edit that cannot be made; `str()` says why, `code` names the rule. Nothing
    was changed."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class EditNotSaved(RuntimeError):
    """The journal could not store the edit (disk full, ...); nothing was changed."""


class NoSuchJob(LookupError):
    """No job with that id, or not the asker's: the same answer for both (404)."""


class EditJournal(Protocol):
    """What Edits needs of the journal (jobs/store.JobStore)."""

    def save_edit(self, job_id: str, segment: Segment) -> None: ...

    def drop_edit(self, job_id: str, segment_id: int) -> None: ...

    def drop_edits(self, job_id: str) -> None: ...

    def save_speaker_name(self, job_id: str, label: str, name: str | None) -> None: ...


@dataclass(frozen=True)
class SegmentView:
    """One segment as the transcript shows it, with the model's original beside it."""

    segment: Segment
    original: Segment

    @property
    def edited(self) -> bool:
        return self.segment != self.original


def _seconds(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EditError(f"{name} must be a number of seconds, got {value!r}", "invalid_time")
    if not math.isfinite(value) or value < 0:
        raise EditError(f"{name} must be 0 s or later, got {value!r}", "invalid_time")
    return float(value)


def check_edit(
    segments: Sequence[Segment],
    original: Segment,
    *,
    text: str | None = None,
    start: float | None = None,
    end: float | None = None,
    duration: float = 0.0,
    speaker: str | None = None,
) -> Segment:
    """The segment after the change, or EditError naming what is wrong.

    `segments` is the transcript as it reads now (edits applied), `original` the
    model's segment with the same id; fields left None keep their current value. The
    new times must keep start <= end, stay clear of the neighbours (touching is fine)
    and inside the recording (`duration`, when known); times are checked only when
    they change, so fixing the text of a segment the model let overlap still works.
    The model's word timings are kept while the text is the model's (they are
    positions in the audio, still true), and dropped once the words are not.
    """
    if text is None and start is None and end is None and speaker is None:
        raise EditError("nothing to change: give text, start, end or speaker", "empty_edit")
    if speaker is not None:
        if not isinstance(speaker, str) or not " ".join(speaker.split()):
            raise EditError("speaker must be a name", "invalid_speaker")
        if len(speaker) > MAX_NAME_CHARS:
            raise EditError(
                f"a speaker's name may have at most {MAX_NAME_CHARS} characters", "name_too_long"
            )
    if text is not None:
        if not isinstance(text, str):
            raise EditError(f"text must be a string, got {type(text).__name__}", "invalid_text")
        if len(text) > MAX_TEXT_CHARS:
            raise EditError(
                f"text is {len(text)} characters; a segment may have at most {MAX_TEXT_CHARS}",
                "text_too_long",
            )
    position = next((i for i, s in enumerate(segments) if s.id == original.id), None)
    if position is None:
        raise EditError(f"there is no segment {original.id}", "segment_not_found")
    current = segments[position]
    new_start = current.start if start is None else _seconds(start, "start")
    new_end = current.end if end is None else _seconds(end, "end")
    if (new_start, new_end) != (current.start, current.end):
        if new_start > new_end:
            raise EditError(
                f"start ({new_start:g} s) is after end ({new_end:g} s)", "start_after_end"
            )
        if position > 0 and new_start < segments[position - 1].end - _EPSILON_S:
            before = segments[position - 1]
            raise EditError(
                f"start ({new_start:g} s) overlaps segment {before.id}, which ends at "
                f"{before.end:g} s",
                "overlaps_previous",
            )
        if position + 1 < len(segments) and new_end > segments[position + 1].start + _EPSILON_S:
            after = segments[position + 1]
            raise EditError(
                f"end ({new_end:g} s) overlaps segment {after.id}, which starts at "
                f"{after.start:g} s",
                "overlaps_next",
            )
        if duration > 0 and new_end > duration + _EPSILON_S:
            raise EditError(
                f"end ({new_end:g} s) is after the end of the recording ({duration:g} s)",
                "past_the_end",
            )
    new_text = current.text if text is None else text
    words = original.words if new_text == original.text else ()
    who = current.speaker if speaker is None else " ".join(speaker.split())
    if who != original.speaker:
        words = tuple(dataclasses.replace(w, speaker=who) for w in words)
    return dataclasses.replace(
        original, text=new_text, start=new_start, end=new_end, words=words, speaker=who
    )


class Edits:
    """Apply, list and restore edits of a job's segments: the API's and the page's way."""

    def __init__(
        self, registry: JobRegistry, bus: EventBus, journal: EditJournal | None = None
    ) -> None:
        self.registry = registry
        self.bus = bus
        self._journal = journal

    # ---- reading ---------------------------------------------------------------

    def segments(self, job_id: str, *, owner: str | None = None) -> list[SegmentView]:
        """Every segment as the transcript shows it, each with the model's original."""
        self._job(job_id, owner)
        originals = self.registry.original_transcript(job_id)
        edits = self.registry.edits(job_id)
        segments = originals.segments if originals is not None else ()
        return [SegmentView(edits.get(s.id, s), s) for s in segments]

    def revision(self, job_id: str) -> int:
        """Changes with every edit or restore of the job (see JobRegistry.revision)."""
        return self.registry.revision(job_id)

    # ---- changing --------------------------------------------------------------

    def apply(
        self,
        job_id: str,
        segment_id: int,
        *,
        text: str | None = None,
        start: float | None = None,
        end: float | None = None,
        owner: str | None = None,
        speaker: str | None = None,
    ) -> SegmentView:
        """Change segment `segment_id`'s text, times and/or speaker; the later write wins.
        A speaker is given as the transcript names them (a renamed one by the name).

        Raises NoSuchJob (unknown, or not `owner`'s when given), JobStateError (the
        job is still queued or running), EditError (bad input: nothing changed) or
        EditNotSaved. An edit that gives back the model's segment is a restore.
        """
        job = self._job(job_id, owner)
        self._check_finished(job)
        original = self._original(job_id, segment_id)
        transcript = self.registry.transcript(job_id)
        assert transcript is not None
        if speaker is not None and not any(s.speaker for s in self._originals(job_id)):
            raise EditError(
                f"{job.name} has no speakers: transcribe it with speakers on to label them",
                "no_speakers",
            )
        if speaker is not None:  # a name given to a label means that label
            named = {n: label for label, n in self.registry.speaker_names(job_id).items()}
            speaker = named.get(" ".join(str(speaker).split()), speaker)
        segment = check_edit(
            self._unnamed(job_id, transcript.segments),
            original,
            text=text,
            start=start,
            end=end,
            duration=transcript.info.duration or job.duration,
            speaker=speaker,
        )
        if segment == original:
            return self._drop(job, original)
        self._save(job, lambda journal: journal.save_edit(job_id, segment))
        revision = self.registry.set_edit(job_id, segment)
        self.bus.announce(SegmentEdited(job_id, segment, original, True, revision))
        return SegmentView(segment, original)

    def restore(self, job_id: str, segment_id: int, *, owner: str | None = None) -> SegmentView:
        """Back to the model's text and times for one segment (a no-op if not edited)."""
        job = self._job(job_id, owner)
        self._check_finished(job)
        return self._drop(job, self._original(job_id, segment_id))

    def restore_all(self, job_id: str, *, owner: str | None = None) -> list[SegmentView]:
        """Back to the model's transcript; returns the segments that were edited."""
        job = self._job(job_id, owner)
        self._check_finished(job)
        edited = self.registry.edits(job_id)
        if not edited:
            return []
        self._save(job, lambda journal: journal.drop_edits(job_id))
        originals = {s.id: s for s in self._originals(job_id)}
        restored = []
        for segment_id in sorted(edited):
            original = originals[segment_id]
            revision = self.registry.drop_edit(job_id, segment_id)
            self.bus.announce(SegmentEdited(job_id, original, original, False, revision))
            restored.append(SegmentView(original, original))
        return restored

    def rename_speaker(
        self, job_id: str, speaker: str, name: str, *, owner: str | None = None
    ) -> list[str]:
        """Call `speaker` (as the transcript shows it now) `name` in the whole file and
        every export; "" gives back the stage's label. Two speakers renamed to one name
        read as one person. Returns the stage's labels that were renamed."""
        job = self._job(job_id, owner)
        self._check_finished(job)
        name = " ".join(str(name).split())
        if len(name) > MAX_NAME_CHARS:
            raise EditError(
                f"a speaker's name may have at most {MAX_NAME_CHARS} characters", "name_too_long"
            )
        names = self.registry.speaker_names(job_id)
        stored = (*self._originals(job_id), *self.registry.edits(job_id).values())
        labels = {s.speaker for s in stored if s.speaker is not None}
        renamed = sorted(label for label in labels if names.get(label, label) == speaker)
        if not renamed:
            raise EditError(f"there is no speaker {speaker!r} in this transcript", "no_speaker")
        given = name or None
        for label in renamed:
            self._save(job, _speaker_name_writer(job_id, label, given))
            self.registry.set_speaker_name(job_id, label, given)
        return renamed

    # ---- helpers ---------------------------------------------------------------

    def _drop(self, job: Job, original: Segment) -> SegmentView:
        if original.id in self.registry.edits(job.id):
            self._save(job, lambda journal: journal.drop_edit(job.id, original.id))
            revision = self.registry.drop_edit(job.id, original.id)
            self.bus.announce(SegmentEdited(job.id, original, original, False, revision))
        return SegmentView(original, original)

    def _job(self, job_id: str, owner: str | None) -> Job:
        job = self.registry.get(job_id)
        if job is None or (owner is not None and job.submitter != owner):
            raise NoSuchJob(f"no job with id {job_id!r}")
        return job

    @staticmethod
    def _check_finished(job: Job) -> None:
        # While a job runs its segments are still arriving (and a resume after a restart
        # decodes from the last one): edits wait for the transcript to be whole.
        if job.status not in TERMINAL:
            raise JobStateError(
                f"{job.name}: the job is {job.status.value}; edit it once it has finished"
            )

    def _unnamed(self, job_id: str, segments: Sequence[Segment]) -> list[Segment]:
        """`segments` with the speakers as stored (the stage's labels, or what an edit
        set), not the names a person gave them: an edit keeps a label, so a later
        rename of that speaker reaches the edited segment too."""
        if not self.registry.speaker_names(job_id):
            return list(segments)
        stored = {s.id: s for s in self._originals(job_id)} | self.registry.edits(job_id)
        return [
            dataclasses.replace(s, speaker=stored[s.id].speaker) if s.id in stored else s
            for s in segments
        ]

    def _originals(self, job_id: str) -> tuple[Segment, ...]:
        transcript = self.registry.original_transcript(job_id)
        return transcript.segments if transcript is not None else ()

    def _original(self, job_id: str, segment_id: int) -> Segment:
        for segment in self._originals(job_id):
            if segment.id == segment_id:
                return segment
        count = len(self._originals(job_id))
        have = f"segments 0 to {count - 1}" if count else "no segments"
        raise EditError(
            f"there is no segment {segment_id}: the transcript has {have}", "segment_not_found"
        )

    def _save(self, job: Job, write: Callable[[EditJournal], None]) -> None:
        if self._journal is None:
            return
        try:
            write(self._journal)
        except Exception as exc:
            raise EditNotSaved(f"{job.name}: could not save the edit ({exc})") from exc


def _speaker_name_writer(
    job_id: str, label: str, name: str | None
) -> Callable[[EditJournal], None]:
    def write(journal: EditJournal) -> None:
        journal.save_speaker_name(job_id, label, name)

    return write
