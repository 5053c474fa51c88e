"""JobRegistry: what is known about each job now, apart from who may change its status.

The dispatcher decides (lifecycle); the registry remembers: the current `Job` value,
the segments and language info decoded so far, the progress, the final transcript,
the flag a running job's thread polls to stop, and the edit layer: segments a person
corrected (jobs/edits.py decides what may change; the model's segments stay as
decoded beside them). Every reader (API, UI, CLI, the
retention sweep) asks the registry, so the dispatcher's surface is the lifecycle only.

Touched only on the event loop thread, except `CancelFlag.is_set`, which the
transcribing thread polls (threading.Event is safe for that).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from whisper_ui.domain import Job, JobStatus, Segment, Transcript, TranscriptInfo


@dataclass
class _Entry:
    job: Job
    segments: list[Segment] = field(default_factory=list)
    info: TranscriptInfo | None = None
    progress: float = 0.0
    stage: str = "transcribing"
    stage_progress: float = 0.0  # of the speakers stage, once it runs
    transcript: Transcript | None = None
    cancel: threading.Event | None = None
    cancelled_by_user: bool = False
    save_error: str | None = None


class JobRegistry:
    """Per-job state keyed by job id, in submission order."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        # The edit layer, apart from the entries so that a restart can load it before
        # the jobs come back: job id -> segment id -> the segment as a person edited it.
        self._edits: dict[str, dict[int, Segment]] = {}
        self._revisions: dict[str, int] = {}
        # Speaker names a person gave: job id -> the stage's label -> the name.
        self._names: dict[str, dict[str, str]] = {}

    # ---- jobs ----------------------------------------------------------------

    def add(
        self, job: Job, segments: Iterable[Segment] = (), info: TranscriptInfo | None = None
    ) -> None:
        entry = _Entry(job, list(segments), info)
        if entry.segments and job.duration:
            entry.progress = min(1.0, entry.segments[-1].end / job.duration)
        self._entries[job.id] = entry

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def get(self, job_id: str) -> Job | None:
        entry = self._entries.get(job_id)
        return entry.job if entry is not None else None

    def jobs(self) -> list[Job]:
        return [e.job for e in self._entries.values()]

    def count(self, status: JobStatus) -> int:
        """How many known jobs are in `status` (health and the resources panel)."""
        return sum(1 for e in self._entries.values() if e.job.status is status)

    def put(self, job: Job) -> None:
        """Store a new value of a known job (the dispatcher's transitions)."""
        self._entries[job.id].job = job

    def forget(self, job_id: str) -> None:
        self._entries.pop(job_id, None)
        self._edits.pop(job_id, None)
        self._revisions.pop(job_id, None)
        self._names.pop(job_id, None)

    # ---- what was decoded ----------------------------------------------------

    def segments(self, job_id: str) -> tuple[Segment, ...]:
        entry = self._entries.get(job_id)
        return tuple(entry.segments) if entry is not None else ()

    def add_segment(self, job_id: str, segment: Segment) -> None:
        self._entries[job_id].segments.append(segment)

    def set_info(self, job_id: str, info: TranscriptInfo) -> None:
        self._entries[job_id].info = info

    def replace_segments(self, job_id: str, segments: Iterable[Segment]) -> None:
        """The whole transcript anew (the speakers stage split it at each change)."""
        self._entries[job_id].segments = list(segments)

    def set_progress(self, job_id: str, fraction: float, stage: str = "transcribing") -> None:
        """`fraction` of the audio decoded, or with stage "speakers" of that stage done
        (the audio's progress stays whole)."""
        entry = self._entries[job_id]
        entry.stage = stage
        if stage == "speakers":
            entry.progress, entry.stage_progress = 1.0, fraction
        else:
            entry.progress = fraction

    def stage(self, job_id: str) -> tuple[str, float]:
        """What a running job is doing, "transcribing" or then "speakers", and the
        fraction of the speakers stage done."""
        entry = self._entries.get(job_id)
        return (entry.stage, entry.stage_progress) if entry is not None else ("transcribing", 0.0)

    def progress(self, job_id: str) -> float:
        """Fraction of the job's audio decoded so far (1.0 once completed)."""
        entry = self._entries.get(job_id)
        if entry is None:
            return 0.0
        return 1.0 if entry.job.status is JobStatus.COMPLETED else entry.progress

    def transcript(self, job_id: str) -> Transcript | None:
        """The transcript as people read it: the model's (final, or partial while the
        job runs) with every edit applied and speakers under the names given them.
        Every export, the API and the page read this."""
        original = self.original_transcript(job_id)
        edits = self._edits.get(job_id)
        names = self._names.get(job_id)
        if original is None or (not edits and not names):
            return original
        segments = tuple((edits or {}).get(s.id, s) for s in original.segments)
        if names:
            segments = tuple(_renamed(s, names) for s in segments)
        return dataclasses.replace(original, segments=segments)

    def original_transcript(self, job_id: str) -> Transcript | None:
        """The transcript as the model wrote it, whatever was edited since."""
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        if entry.transcript is not None:
            return entry.transcript
        info = entry.info or TranscriptInfo("", 0.0, entry.job.duration)
        return Transcript(info, tuple(entry.segments), entry.job.name)

    def seal(self, job_id: str) -> Transcript:
        """Freeze the model's transcript of a job that completed; returns what people
        read (with edits loaded at a restart applied)."""
        original = self.original_transcript(job_id)
        assert original is not None, job_id
        self._entries[job_id].transcript = original
        transcript = self.transcript(job_id)
        assert transcript is not None
        return transcript

    # ---- the edit layer (jobs/edits.py checks an edit before it lands here) ----

    def edits(self, job_id: str) -> dict[int, Segment]:
        """Segment id -> the edited segment, for the job's edited segments only."""
        return dict(self._edits.get(job_id, {}))

    def revision(self, job_id: str) -> int:
        """How many edits and restores the job has had in this process (0: none); a
        cache of rendered exports keys on it."""
        return self._revisions.get(job_id, 0)

    def set_edit(self, job_id: str, segment: Segment) -> int:
        """Put an edited segment in place of the model's; returns the new revision."""
        self._edits.setdefault(job_id, {})[segment.id] = segment
        return self._bump(job_id)

    def drop_edit(self, job_id: str, segment_id: int) -> int:
        """Back to the model's segment; returns the new revision."""
        edits = self._edits.get(job_id, {})
        edits.pop(segment_id, None)
        if not edits:
            self._edits.pop(job_id, None)
        return self._bump(job_id)

    def load_edits(self, edits: dict[str, list[Segment]]) -> None:
        """The edit layer as the journal kept it (a restart), before the jobs return."""
        for job_id, segments in edits.items():
            if segments:
                self._edits[job_id] = {s.id: s for s in segments}
                self._revisions[job_id] = len(segments)

    def speaker_names(self, job_id: str) -> dict[str, str]:
        """The stage's label -> the name a person gave it, for renamed speakers only."""
        return dict(self._names.get(job_id, {}))

    def set_speaker_name(self, job_id: str, label: str, name: str | None) -> int:
        """Name (None: unname) a speaker of the job; returns the new revision."""
        names = self._names.setdefault(job_id, {})
        if name is None or name == label:
            names.pop(label, None)
        else:
            names[label] = name
        if not names:
            self._names.pop(job_id, None)
        return self._bump(job_id)

    def load_speaker_names(self, names: dict[str, dict[str, str]]) -> None:
        """Names as the journal kept them (a restart)."""
        for job_id, given in names.items():
            if given:
                self._names[job_id] = dict(given)
                self._revisions[job_id] = self._revisions.get(job_id, 0) + 1

    def _bump(self, job_id: str) -> int:
        self._revisions[job_id] = self._revisions.get(job_id, 0) + 1
        return self._revisions[job_id]

    # ---- stopping a running job ----------------------------------------------

    def arm(self, job_id: str) -> threading.Event:
        """A fresh stop flag for a job about to run; its thread polls `is_set`."""
        entry = self._entries[job_id]
        entry.cancel = threading.Event()
        entry.cancelled_by_user = False
        if entry.save_error is not None:
            entry.cancel.set()  # it could not be saved: it stops as soon as it starts
        return entry.cancel

    def disarm(self, job_id: str) -> None:
        entry = self._entries.get(job_id)
        if entry is not None:
            entry.cancel = None
            entry.cancelled_by_user = False

    def stop(self, job_id: str, *, by_user: bool) -> bool:
        """Set a running job's stop flag; False when it is not running here."""
        entry = self._entries.get(job_id)
        if entry is None or entry.cancel is None:
            return False
        entry.cancelled_by_user = entry.cancelled_by_user or by_user
        entry.cancel.set()
        return True

    def stop_all(self) -> None:
        for job_id in list(self._entries):
            self.stop(job_id, by_user=False)

    def stop_requested(self, job_id: str) -> bool:
        entry = self._entries.get(job_id)
        return entry is not None and entry.cancel is not None and entry.cancel.is_set()

    def cancelled_by_user(self, job_id: str) -> bool:
        entry = self._entries.get(job_id)
        return entry is not None and entry.cancelled_by_user

    # ---- journal failures ----------------------------------------------------

    def note_save_error(self, job_id: str, message: str) -> bool:
        """Remember the first failure to save a job and stop it; False if already noted."""
        entry = self._entries.get(job_id)
        if entry is None or entry.save_error is not None:
            return False
        entry.save_error = message
        if entry.cancel is not None:
            entry.cancel.set()
        return True

    def take_save_error(self, job_id: str) -> str | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        message, entry.save_error = entry.save_error, None
        return message


def _renamed(segment: Segment, names: dict[str, str]) -> Segment:
    if segment.speaker is None or segment.speaker not in names:
        return segment
    words = tuple(
        dataclasses.replace(w, speaker=names.get(w.speaker, w.speaker)) if w.speaker else w
        for w in segment.words
    )
    return dataclasses.replace(segment, speaker=names[segment.speaker], words=words)
