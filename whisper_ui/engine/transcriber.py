"""Runs one file through faster-whisper in a worker thread, emitting each segment as decoded.

The transcriber is synchronous and knows nothing of jobs or the event loop: it gets
`emit` and `should_cancel` as arguments. faster-whisper's segment generator is lazy,
so iterating it once, converting and emitting each segment, is the streaming seam.

Long audio goes to faster-whisper in pieces of at most PIECE_S (10 minutes), cut in
pauses (audio.split_on_silence), each started like a new file (with the user's initial
prompt, if any). faster-whisper keeps the features of all it is given and its own
feature extractor peaked at ~48 MB per minute of audio (+2.9 GB for an hour); with the
block extractor the loader installs (engine/features.py: the same features, bit for
bit) a 10-minute piece costs ~70 MB, whatever the file's length (measured with
bench/long_file_memory.py). A piece does not carry the previous piece's text as a
prompt: on 9 minutes of speech cut every 5 minutes that measured WER 11.96 against
8.25 without (one call: 7.34), the prompted decode skipping whole sentences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from whisper_ui import audio as audio_io
from whisper_ui.audio import SAMPLE_RATE
from whisper_ui.domain import (
    InfoReady,
    JobEvent,
    Progress,
    Resume,
    Segment,
    SegmentAdded,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Word,
)
from whisper_ui.engine.errors import TranscriptionCancelled

PIECE_S = 600.0  # longest audio given to faster-whisper in one call (see the docstring)
PIECE_SILENCE_MS = 400  # a pause between sentences: where a piece may end


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
    piece_s: float = PIECE_S,
) -> Transcript:
    """Transcribe `audio` (16 kHz mono float32), emitting InfoReady, SegmentAdded, Progress.

    Returns the transcript of the part decoded in this call (segments after
    `resume.offset_s`). Raises TranscriptionCancelled when `should_cancel()` turns
    true; the check runs before decoding and between segments. The engine's jobs go
    through `transcribe_pieces` with a file's pieces decoded one at a time (the same
    cuts as here); this is for audio already in memory.
    """
    total_s = len(audio) / SAMPLE_RATE
    start_sample = int(resume.offset_s * SAMPLE_RATE)
    part = audio[start_sample:] if start_sample else audio
    cuts = audio_io.split_on_silence(part, max_chunk_s=piece_s, min_silence_ms=PIECE_SILENCE_MS)
    pieces = (
        audio_io.Piece(resume.offset_s + s, part[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)])
        for s, e in cuts
    )
    return transcribe_pieces(
        model,
        pieces,
        options,
        total_s=total_s,
        job_id=job_id,
        emit=emit,
        should_cancel=should_cancel,
        resume=resume,
        source_name=source_name,
    )


def transcribe_pieces(
    model: Any,
    pieces: Iterable[audio_io.Piece],
    options: TranscribeOptions,
    *,
    total_s: float,
    job_id: str,
    emit: Callable[[JobEvent], None],
    should_cancel: Callable[[], bool],
    resume: Resume = Resume(),
    source_name: str = "",
    decoded_s: Callable[[], float] | None = None,
) -> Transcript:
    """`transcribe` over pieces that start at their own place in the file (a resumed
    job's first piece at its offset), each given to faster-whisper as a new file.

    `total_s` is the file's length as far as it is known before the end (the header's,
    for a file decoded as it goes): progress is measured against it. `decoded_s`, read
    after the last piece, is where the audio really ended; when that differs, a second
    InfoReady carries the length that was decoded, which the transcript keeps.
    """
    if should_cancel():
        raise TranscriptionCancelled(job_id)
    info: TranscriptInfo | None = None
    language = options.language
    segments: list[Segment] = []
    next_id = resume.next_id
    empty = audio_io.Piece(resume.offset_s, np.zeros(0, dtype=np.float32))
    for piece in _at_least_one(pieces, empty):
        raw_segments, raw_info = model.transcribe(
            piece.samples,
            language=language,
            task=options.task,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt or None,
            temperature=list(options.temperature),
        )
        if info is None:
            info = TranscriptInfo(
                language=raw_info.language,
                language_probability=float(raw_info.language_probability),
                duration=round(total_s, 3),
            )
            emit(InfoReady(job_id, info))
            language = raw_info.language  # later pieces: the language of the first
        at = Resume(offset_s=piece.start_s, next_id=next_id)
        for segment in _stream(
            raw_segments, at, total_s, job_id=job_id, emit=emit, cancel=should_cancel
        ):
            segments.append(segment)
        next_id = resume.next_id + len(segments)
        if should_cancel():
            raise TranscriptionCancelled(job_id)
        del piece, raw_segments  # not held while the next piece is read
    assert info is not None
    if decoded_s is not None and round(decoded_s(), 3) != info.duration:
        info = dataclasses.replace(info, duration=round(decoded_s(), 3))
        emit(InfoReady(job_id, info))
    emit(Progress(job_id, 1.0, info.duration))
    return Transcript(info=info, segments=tuple(segments), source_name=source_name)


def _at_least_one(
    pieces: Iterable[audio_io.Piece], empty: audio_io.Piece
) -> Iterator[audio_io.Piece]:
    """`pieces`, or `empty` alone when there are none (a resume at the very end): the
    model still looks once, so the transcript has its language."""
    seen = False
    for piece in pieces:
        seen = True
        yield piece
        del piece  # not held while the next piece is read
    if not seen:
        yield empty


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
