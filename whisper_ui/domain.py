"""Plain data shared by every layer: transcripts, options, job status and events.

It imports only `options` (the declaration of the per-job options, the lowest
layer), so any layer may depend on it. Every type is a frozen dataclass: a value
changes by `dataclasses.replace`, never in place, which keeps events and
snapshots safe to hand across threads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

# Re-exported: every layer takes the options from here with the rest of its values.
from whisper_ui.options import Task as Task
from whisper_ui.options import TranscribeOptions as TranscribeOptions


@dataclass(frozen=True)
class Word:
    """One word with its timing, present only when word timestamps were asked for."""

    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    """One decoded stretch of speech, as faster-whisper yields it."""

    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    speaker: str | None = None  # set by the speakers stage (engine/diarize)


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of one voice, in seconds (engine/diarize)."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class TranscriptInfo:
    """What is known about a file's audio once decoding starts."""

    language: str
    language_probability: float
    duration: float


@dataclass(frozen=True)
class Transcript:
    """A finished (or partial) transcript: the unit every exporter renders."""

    info: TranscriptInfo
    segments: tuple[Segment, ...] = ()
    source_name: str = ""

    @property
    def text(self) -> str:
        """The plain text, segments joined by single spaces."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def talk_time(self) -> dict[str, float]:
        """Seconds each speaker talks, in order of first speech ({} without speakers)."""
        totals: dict[str, float] = {}
        for s in self.segments:
            if s.speaker is not None and s.text.strip():
                totals[s.speaker] = totals.get(s.speaker, 0.0) + max(0.0, s.end - s.start)
        return totals


class JobStatus(str, enum.Enum):
    """Lifecycle of a job; only the dispatcher moves a job between these."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)

# RUNNING -> QUEUED is the out-of-memory requeue: the job waits for capacity again.
_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.QUEUED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A status change that the lifecycle does not allow (a bug, not a user error)."""


class JobStateError(RuntimeError):
    """The job exists but is in the wrong state for the request (e.g. retry a running job)."""


def check_transition(current: JobStatus, new: JobStatus) -> JobStatus:
    """Return `new` if the lifecycle allows `current -> new`, else raise."""
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"job cannot go from {current.value} to {new.value}")
    return new


@dataclass(frozen=True)
class Upload:
    """One file handed to the dispatcher: where it is on disk and the name the user knows."""

    path: str
    name: str = ""


@dataclass(frozen=True)
class Resume:
    """Where a job picks up after a restart or an out-of-memory retry: after the
    segments it already emitted (offset in seconds of audio, and the next segment id)."""

    offset_s: float = 0.0
    next_id: int = 0


@dataclass(frozen=True)
class Voice:
    """A named reference clip: the speakers stage labels the voice nearest it by `name`
    (OpenAI's known_speaker_names/references, or a person's saved voice)."""

    name: str
    path: str


@dataclass(frozen=True)
class Job:
    """Inert description of one file's transcription; it never references its queue."""

    id: str
    path: str
    name: str
    options: TranscribeOptions
    duration: float
    batch_id: str = ""
    submitter: str = "anonymous"
    status: JobStatus = JobStatus.QUEUED
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    device: str | None = None
    node: str | None = None  # the cluster node it ran on (whisper_ui/cluster); None locally
    error: str | None = None
    # What a person should know about a job that still completed (the file ends early,
    # no speech found): each said once, in the order found; see WarningAdded.
    warnings: tuple[str, ...] = ()
    voices: tuple[Voice, ...] = ()  # reference clips that name speakers (speakers on)


NO_SPEECH = "no speech found"
"""The warning of a completed job whose transcript has no text: its exports are empty
(a zip leaves them out), so the person is told why rather than left to wonder."""


WORDLESS_SPEECH = "speech was heard"
"""How the warning begins for a file whose speech gave no words (engine/language_check):
it explains the empty text, so "no speech found" is not said as well."""


def wordless_speech_warning(heard_s: float, model: str) -> str:
    """The warning for speech the model wrote nothing for (English-only models)."""
    heard = f"{round(heard_s)} s" if heard_s < 90 else f"{round(heard_s / 60)} min"
    return (
        f"{WORDLESS_SPEECH} ({heard}) but no words came out, and {model} transcribes "
        "English only: if it is another language, transcribe it again with a "
        "multilingual model (such as base)"
    )


def explains_no_text(warnings: tuple[str, ...]) -> bool:
    """Whether a warning already says why the transcript is empty."""
    return any(w.startswith(WORDLESS_SPEECH) for w in warnings)


def no_speech(transcript: Transcript) -> bool:
    """True when a finished transcript holds no words at all (see NO_SPEECH).

    Only "nothing at all": "little text for its length" would flag quiet recordings
    with a few words in them, and without VAD tiny.en writes "You" into silence, so
    a words-per-minute bound would warn on speech and miss silence alike.
    """
    return not transcript.text


# ---- events -----------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    job_id: str
    requeued: bool = False
    reason: str = ""
    kind: Literal["queued"] = field(default="queued", init=False)


@dataclass(frozen=True)
class Started:
    job_id: str
    device: str
    model: str
    kind: Literal["started"] = field(default="started", init=False)


@dataclass(frozen=True)
class Progress:
    """Fraction of the audio duration decoded so far (0..1); with stage "speakers",
    the fraction of the speakers stage done (it runs after the transcript is whole)."""

    job_id: str
    fraction: float
    audio_done_s: float
    stage: Literal["transcribing", "speakers"] = "transcribing"
    kind: Literal["progress"] = field(default="progress", init=False)


@dataclass(frozen=True)
class InfoReady:
    """Language and duration, known once the model has looked at the audio."""

    job_id: str
    info: TranscriptInfo
    kind: Literal["info"] = field(default="info", init=False)


@dataclass(frozen=True)
class SegmentAdded:
    job_id: str
    segment: Segment
    kind: Literal["segment"] = field(default="segment", init=False)


@dataclass(frozen=True)
class Completed:
    job_id: str
    transcript: Transcript
    kind: Literal["completed"] = field(default="completed", init=False)


@dataclass(frozen=True)
class Failed:
    """`message` is written for a person: it names the file and the reason."""

    job_id: str
    message: str
    kind: Literal["failed"] = field(default="failed", init=False)


@dataclass(frozen=True)
class WarningAdded:
    """Something a person should know about a job that goes on (it is added to
    `Job.warnings`): written for a person, without the file's name in front."""

    job_id: str
    message: str
    kind: Literal["warning"] = field(default="warning", init=False)


@dataclass(frozen=True)
class Cancelled:
    job_id: str
    kind: Literal["cancelled"] = field(default="cancelled", init=False)


@dataclass(frozen=True)
class SegmentEdited:
    """A person changed (or restored) one segment of a finished job (jobs/edits.py).

    `segment` is what the transcript shows now, `original` what the model wrote,
    `edited` False after a restore; `revision` counts the job's edits so far (a cache
    of rendered exports keys on it). It reaches the bus's listeners and subscribe_all,
    not the job's own event log, which ends with its terminal event."""

    job_id: str
    segment: Segment
    original: Segment
    edited: bool
    revision: int
    kind: Literal["edited"] = field(default="edited", init=False)


@dataclass(frozen=True)
class SpeakersFound:
    """The speakers stage is done (engine/speakers): `turns` from the runner; the
    dispatcher lays them on every saved segment and publishes this event again with
    `segments`, the whole transcript split at each change of speaker (new ids)."""

    job_id: str
    turns: tuple[SpeakerTurn, ...]
    speakers: tuple[str, ...]
    segments: tuple[Segment, ...] = ()
    kind: Literal["speakers"] = field(default="speakers", init=False)


JobEvent = (
    Queued
    | Started
    | Progress
    | InfoReady
    | SegmentAdded
    | WarningAdded
    | Completed
    | Failed
    | Cancelled
    | SegmentEdited
    | SpeakersFound
)

TERMINAL_EVENTS = (Completed, Failed, Cancelled)
