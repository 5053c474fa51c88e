"""Running one job on a granted lease: decode the file, then transcribe it plainly or batched.

The dispatcher calls a `RunJob` in a thread for each job it starts and knows nothing
of how the model is driven. Both ways live here: the plain one (engine/transcriber:
faster-whisper's own loop, one file per call) and the batched one (engine/batcher:
chunks of every running job share encode/generate calls). Which one a job gets
depends on its lease's device: `batching_enabled`.

Names: a pool *slot* is one CTranslate2 worker; a *runner* is what runs one job on
a slot (this module); the batcher's *batch threads* issue the batched calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from whisper_ui import audio
from whisper_ui.domain import (
    Job,
    JobEvent,
    Progress,
    Resume,
    SpeakersFound,
    Transcript,
    WarningAdded,
)
from whisper_ui.engine import speakers
from whisper_ui.engine.batcher import BatchSettings, transcribe_batched_pieces
from whisper_ui.engine.errors import TranscriptionCancelled
from whisper_ui.engine.language_check import HEARD_WITHIN_S, check_language
from whisper_ui.engine.pool import Lease
from whisper_ui.engine.transcriber import PIECE_S, PIECE_SILENCE_MS, transcribe_pieces

Emit = Callable[[JobEvent], None]


class RunJob(Protocol):
    """Transcribe `job` on `lease` (in a thread), emitting events; raises
    TranscriptionCancelled once `should_cancel()` turns true, AudioError for a bad file."""

    def __call__(
        self,
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Emit,
        should_cancel: Callable[[], bool],
    ) -> Transcript: ...


def batching_enabled(setting: str, kind: str) -> bool:
    """Whether jobs on a `kind` device share batched encode/generate calls (engine/batcher).

    `auto` batches on CUDA only. On a GPU one chunk leaves most of the device idle, and
    batching is how faster-whisper's own benchmark gets its speed-up (large-v2 fp16,
    beam 5, batch 8; its README). On CPU it was measured (README "## Throughput",
    bench/batch_scaling.py): a batch of 8 chunks cost as much per chunk as 8 calls of
    one (the encoder is already one large matrix per chunk), so batching buys nothing
    but latency: the first segment of two jobs started together waits for both. `on`
    forces it (CPUs where bench/batch_scaling.py shows a per-chunk saving), `off`
    never batches.
    """
    if setting == "auto":
        return kind == "cuda"
    return setting == "on"


def checked(
    job: Job,
    lease: Lease,
    transcript: Transcript,
    emit: Emit,
    samples: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]],
    resume: Resume = Resume(),
) -> Transcript:
    """Warn (a WarningAdded) when an English-only model probably got another language
    (engine/language_check); `samples` (or a call that decodes them, made only for a
    transcript without text) let an empty transcript be told from silence. A resumed
    job is not judged: `transcript` holds only what this call decoded (the end of a
    file, often its weakest part), not the whole file."""
    if resume.offset_s > 0:
        return transcript
    inner = getattr(lease.model, "model", None)
    english_only = not bool(getattr(inner, "is_multilingual", True))
    if callable(samples):
        samples = samples() if english_only and not transcript.text else np.zeros(0, np.float32)
    warning = check_language(
        transcript, samples, model=job.options.model, english_only=english_only
    )
    if warning is not None:
        emit(WarningAdded(job.id, warning))
    return transcript


def head(job: Job) -> npt.NDArray[np.float32]:
    """The first HEARD_WITHIN_S of the job's file (what the language check listens to)."""
    for piece in audio.PieceReader(job.path, name=job.name, max_chunk_s=HEARD_WITHIN_S):
        return piece.samples
    return np.zeros(0, dtype=np.float32)


def find_speakers(
    job: Job,
    samples: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]],
    emit: Emit,
    should_cancel: Callable[[], bool],
) -> None:
    """The speakers stage, when the job asks for it: turns over the whole file (so a
    resumed job gets them too), sent as SpeakersFound for the dispatcher to lay on
    every saved segment. `samples` may be a call that decodes the file: made only
    when speakers are asked for, since the stage needs the whole file at once. A
    failure is a warning and the transcript is still delivered; a cancel raises
    TranscriptionCancelled like the transcription does."""
    wanted = speakers.request(job.options)
    if wanted is None:
        return
    from whisper_ui.engine import diarize  # the speakers extra (scipy): only when asked

    def progress(fraction: float) -> None:
        emit(Progress(job.id, round(fraction, 3), job.duration, stage="speakers"))

    try:
        whole = samples() if callable(samples) else samples
        known = {voice.name: audio.decode(voice.path, name=voice.name) for voice in job.voices}
        found = diarize.diarize(
            whole,
            speakers=wanted.speakers,
            min_speakers=wanted.min_speakers,
            max_speakers=wanted.max_speakers,
            known=known or None,
            should_cancel=should_cancel,
            progress=progress,
        )
    except diarize.DiarizationCancelled:
        raise TranscriptionCancelled(job.id) from None
    except Exception as exc:  # the transcript is whole: deliver it, say what is missing
        emit(
            WarningAdded(job.id, f"speakers could not be told apart ({type(exc).__name__}: {exc})")
        )
        return
    if found.note is not None:
        emit(WarningAdded(job.id, f"speakers: {found.note}"))
    emit(SpeakersFound(job.id, found.turns, found.speakers))


def run_plain(
    job: Job, lease: Lease, resume: Resume, emit: Emit, should_cancel: Callable[[], bool]
) -> Transcript:
    """faster-whisper's own loop over the file, decoded a piece at a time (PieceReader):
    a job holds one piece of its audio, however long the file."""
    reader = job_reader(job, resume, emit)
    transcript = transcribe_pieces(
        lease.model,
        reader,
        job.options,
        total_s=max(job.duration, resume.offset_s),
        job_id=job.id,
        emit=emit,
        should_cancel=should_cancel,
        resume=resume,
        source_name=job.name,
        decoded_s=lambda: reader.decoded_s,
    )
    return finish(job, lease, transcript, emit, should_cancel, resume)


def job_reader(job: Job, resume: Resume, emit: Emit) -> audio.PieceReader:
    """The job's audio from the resume point on, in the pieces transcriber cuts; a
    decode warning (a damaged or cut-off file) is emitted once the file is read to its
    end, which is before its last piece is transcribed."""

    def ended(reader: audio.PieceReader) -> None:
        if reader.warning is not None:
            emit(WarningAdded(job.id, reader.warning))

    return audio.PieceReader(
        job.path,
        name=job.name,
        start_s=resume.offset_s,
        max_chunk_s=PIECE_S,
        min_silence_ms=PIECE_SILENCE_MS,
        on_end=ended,
    )


def finish(
    job: Job,
    lease: Lease,
    transcript: Transcript,
    emit: Emit,
    should_cancel: Callable[[], bool],
    resume: Resume,
) -> Transcript:
    """After the last piece: the speakers stage (which decodes the whole file again,
    only when asked for, into a mapped temporary file: audio.decode_mapped) and the
    language check."""
    find_speakers(job, lambda: audio.decode_mapped(job.path, name=job.name), emit, should_cancel)
    return checked(job, lease, transcript, emit, lambda: head(job), resume)


@dataclass(frozen=True)
class JobRunner:
    """Batched where `batch` allows it on the lease's device, plain otherwise."""

    batch: str = "auto"  # auto | on | off (Settings.batch)
    batch_settings: BatchSettings = field(default_factory=BatchSettings)
    # model -> whether a calibration of this CPU chose batching (engine/calibrate.py);
    # None where there is none. Asked only for `batch: auto` on the CPU.
    measured_batch: Callable[[str], bool | None] | None = None

    def batches_on(self, kind: str, model: str | None = None) -> bool:
        """Whether jobs of `model` on a device of `kind` run batched (the planner counts
        it too): a calibration decides `auto` on the CPU, the rule where there is none."""
        if self.batch == "auto" and kind == "cpu" and model and self.measured_batch:
            measured = self.measured_batch(model)
            if measured is not None:
                return measured
        return batching_enabled(self.batch, kind)

    def __call__(
        self,
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Emit,
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        if not self.batches_on(lease.device.kind, job.options.model):
            return run_plain(job, lease, resume, emit, should_cancel)
        calls = int(getattr(lease.model.model, "num_workers", 1))
        if lease.device.kind == "cpu":  # never more concurrent batches than cores allow
            cores = lease.device.physical_cores or lease.device.logical_cores or 1
            calls = min(calls, max(1, cores // max(1, lease.cpu_threads)))
        reader = job_reader(job, resume, emit)
        transcript = transcribe_batched_pieces(
            lease.model,
            reader,
            job.options,
            total_s=max(job.duration, resume.offset_s),
            job_id=job.id,
            emit=emit,
            should_cancel=should_cancel,
            settings=BatchSettings(
                max_batch_size=self.batch_settings.max_batch_size,
                max_wait_ms=self.batch_settings.max_wait_ms,
                batch_threads=max(1, calls),
                idle_exit_s=self.batch_settings.idle_exit_s,
            ),
            resume=resume,
            source_name=job.name,
            decoded_s=lambda: reader.decoded_s,
        )
        return finish(job, lease, transcript, emit, should_cancel, resume)
