"""JobRegistry: what is known about each job now, apart from who may change its status.

The dispatcher decides (lifecycle); the registry remembers: the current `Job` value,
the segments and language info decoded so far, the progress, the final transcript,
and the flag a running job's thread polls to stop. Every reader (API, UI, CLI, the
retention sweep) asks the registry, so the dispatcher's surface is the lifecycle only.

Touched only on the event loop thread, except `CancelFlag.is_set`, which the
transcribing thread polls (threading.Event is safe for that).
"""

from __future__ import annotations

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
    transcript: Transcript | None = None
    cancel: threading.Event | None = None
    cancelled_by_user: bool = False
    save_error: str | None = None


class JobRegistry:
    """Per-job state keyed by job id, in submission order."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

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

    # ---- what was decoded ----------------------------------------------------

    def segments(self, job_id: str) -> tuple[Segment, ...]:
        entry = self._entries.get(job_id)
        return tuple(entry.segments) if entry is not None else ()

    def add_segment(self, job_id: str, segment: Segment) -> None:
        self._entries[job_id].segments.append(segment)

    def set_info(self, job_id: str, info: TranscriptInfo) -> None:
        self._entries[job_id].info = info

    def set_progress(self, job_id: str, fraction: float) -> None:
        self._entries[job_id].progress = fraction

    def progress(self, job_id: str) -> float:
        """Fraction of the job's audio decoded so far (1.0 once completed)."""
        entry = self._entries.get(job_id)
        if entry is None:
            return 0.0
        return 1.0 if entry.job.status is JobStatus.COMPLETED else entry.progress

    def transcript(self, job_id: str) -> Transcript | None:
        """The final transcript, or the partial one of a job not finished yet."""
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        if entry.transcript is not None:
            return entry.transcript
        info = entry.info or TranscriptInfo("", 0.0, entry.job.duration)
        return Transcript(info, tuple(entry.segments), entry.job.name)

    def seal(self, job_id: str) -> Transcript:
        """Freeze the transcript of a job that completed; later reads get this value."""
        transcript = self.transcript(job_id)
        assert transcript is not None, job_id
        self._entries[job_id].transcript = transcript
        return transcript

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
