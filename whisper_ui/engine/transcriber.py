"""Runs one file through faster-whisper in a worker thread, emitting each segment as decoded.

The transcriber is synchronous and knows nothing of jobs or the event loop: it gets
`emit` and `should_cancel` as arguments. faster-whisper's segment generator is lazy,
so iterating it once, converting and emitting each segment, is the streaming seam.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from whisper_ui.domain import (
    InfoReady,
    JobEvent,
    Progress,
    Segment,
    SegmentAdded,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Word,
)

SAMPLE_RATE = 16000


class TranscriptionCancelled(Exception):
    """Raised out of the worker thread when the job was cancelled between segments."""


@dataclass(frozen=True)
class Resume:
    """Where a restarted job picks up: after the segments it already emitted."""

    offset_s: float = 0.0
    next_id: int = 0


def to_segment(raw: Any, *, offset: float, seg_id: int) -> Segment:
    """Map a faster-whisper Segment to ours, shifted by `offset` seconds."""
    words = tuple(
        Word(
            start=round(w.start + offset, 3),
            end=round(w.end + offset, 3),
            word=w.word,
            probability=float(w.probability),
        )
        for w in (raw.words or ())
    )
    return Segment(
        id=seg_id,
        start=round(raw.start + offset, 3),
        end=round(raw.end + offset, 3),
        text=raw.text,
        words=words,
        avg_logprob=float(raw.avg_logprob),
        no_speech_prob=float(raw.no_speech_prob),
    )


def transcribe(
    model: Any,
    audio: np.ndarray,
    options: TranscribeOptions,
    *,
    job_id: str,
    emit: Callable[[JobEvent], None],
    should_cancel: Callable[[], bool],
    resume: Resume = Resume(),
    source_name: str = "",
) -> Transcript:
    """Transcribe `audio` (16 kHz mono float32), emitting InfoReady, SegmentAdded, Progress.

    Returns the transcript of the part decoded in this call (segments after
    `resume.offset_s`). Raises TranscriptionCancelled when `should_cancel()` turns
    true; the check runs before decoding and between segments.
    """
    if should_cancel():
        raise TranscriptionCancelled(job_id)
    total_s = len(audio) / SAMPLE_RATE
    start_sample = int(resume.offset_s * SAMPLE_RATE)
    part = audio[start_sample:] if start_sample else audio
    raw_segments, raw_info = model.transcribe(
        part,
        language=options.language,
        task=options.task,
        beam_size=options.beam_size,
        vad_filter=options.vad_filter,
        word_timestamps=options.word_timestamps,
        initial_prompt=options.initial_prompt or None,
        temperature=list(options.temperature),
    )
    info = TranscriptInfo(
        language=raw_info.language,
        language_probability=float(raw_info.language_probability),
        duration=round(total_s, 3),
    )
    emit(InfoReady(job_id, info))
    segments = list(
        _stream(raw_segments, resume, total_s, job_id=job_id, emit=emit, cancel=should_cancel)
    )
    emit(Progress(job_id, 1.0, round(total_s, 3)))
    return Transcript(info=info, segments=tuple(segments), source_name=source_name)


def _stream(
    raw_segments: Iterable[Any],
    resume: Resume,
    total_s: float,
    *,
    job_id: str,
    emit: Callable[[JobEvent], None],
    cancel: Callable[[], bool],
) -> Iterable[Segment]:
    seg_id = resume.next_id
    for raw in raw_segments:
        segment = to_segment(raw, offset=resume.offset_s, seg_id=seg_id)
        seg_id += 1
        emit(SegmentAdded(job_id, segment))
        done = min(segment.end, total_s)
        emit(Progress(job_id, round(done / total_s, 4) if total_s else 1.0, done))
        yield segment
        if cancel():
            raise TranscriptionCancelled(job_id)
