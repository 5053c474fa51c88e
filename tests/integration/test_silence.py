"""Silence gives no text by default, and speech keeps its words (issue 11, item 9).

Without VAD, tiny.en writes "You" into every 30 s window of silence (a two-hour
recording of a quiet room came back as a page of "You"). VAD (faster-whisper's bundled
Silero) is on by default since bench/vad.py measured it (README, "Silence and VAD").
Every job here takes the *default* options, as a page, an API call or a CLI run that
leaves the option out, through the configured Settings (configs/default.yaml included).
The audio is built in tmp_path from the committed fixtures (nothing long is committed).
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from bench.wer import wer
from tests.conftest import DATA, words
from tests.spoken import LONG, SECOND, SPEECH, VIDEO, chapters_missing, found
from whisper_ui.audio import SAMPLE_RATE, decode
from whisper_ui.config import Settings
from whisper_ui.domain import Job, JobStatus, Transcript, Upload
from whisper_ui.services import Services, build_services

pytestmark = pytest.mark.integration

# Reliable words of each sentence (tests/data/README.md): any one may flip on some CPU.
SENTENCE_WORDS = {
    "speech.wav": {"quick", "over", "lazy", "tuesday", "weather", "sunny", "25", "degrees"},
    "second_speech.wav": {"red", "car", "parked", "next", "old", "church"},
    "video.mp4": {"please", "remember", "garden", "feed", "cat", "dinner"},
}
GAPS_S = (40.0, 60.0)  # between the three sentences: a speaker who stops for a minute


@asynccontextmanager
async def engine(tmp_path: Path) -> AsyncIterator[Services]:
    """The real engine with the configured defaults (only where its data goes is set)."""
    svc = build_services(Settings(data_dir=tmp_path / "data", concurrency=2))
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def run_default(svc: Services, paths: list[Path]) -> dict[str, tuple[Job, Transcript]]:
    """Submit `paths` with the default options; each finished job and its transcript."""
    jobs = await svc.dispatcher.submit(
        [Upload(str(p), p.name) for p in paths], svc.default_options()
    )
    done = await asyncio.wait_for(asyncio.gather(*(svc.dispatcher.wait(j.id) for j in jobs)), 120)
    out: dict[str, tuple[Job, Transcript]] = {}
    for job in done:
        assert job.status is JobStatus.COMPLETED, (job.name, job.error)
        transcript = svc.registry.transcript(job.id)
        assert transcript is not None
        out[job.name] = (job, transcript)
    return out


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16 kHz mono 16-bit PCM from float samples in [-1, 1] (or int16 as they are)."""
    if samples.dtype != np.int16:
        samples = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())
    return path


def silences(folder: Path, seconds: int) -> list[Path]:
    """Digital zeros, and dither (+-3 of 32768, about -80 dBFS): both came back as one
    "You" per 30 s window with VAD off (bench/vad.py)."""
    n = seconds * SAMPLE_RATE
    dither = np.random.default_rng(11).integers(-3, 4, n).astype(np.int16)
    return [
        write_wav(folder / "digital_silence.wav", np.zeros(n, dtype=np.int16)),
        write_wav(folder / "dither_-80dB.wav", dither),
    ]


def speech_with_pauses(folder: Path) -> tuple[Path, list[tuple[float, float]]]:
    """Sentences A, B and E with GAPS_S of digital silence between them; and where each
    sentence is in the file (seconds)."""
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    at = 0.0
    for i, name in enumerate(SENTENCE_WORDS):
        sentence = decode(DATA / name)
        parts.append(sentence)
        spans.append((at, at + len(sentence) / SAMPLE_RATE))
        at = spans[-1][1]
        if i < len(GAPS_S):
            parts.append(np.zeros(int(GAPS_S[i] * SAMPLE_RATE), dtype=np.float32))
            at += GAPS_S[i]
    return write_wav(folder / "pauses.wav", np.concatenate(parts)), spans


async def test_a_default_job_on_silence_gives_no_text(tmp_path: Path) -> None:
    files = silences(tmp_path, 90)
    async with engine(tmp_path) as svc:
        results = await run_default(svc, files)
    for name, (_, transcript) in results.items():
        assert transcript.text == "" and transcript.segments == (), (name, transcript.text)
        assert transcript.info.duration == pytest.approx(90, abs=0.1)


async def test_a_default_job_on_speech_keeps_its_words(tmp_path: Path) -> None:
    """90 s of continuous speech, and three sentences a minute apart: every sentence is
    there, the WER is what tiny.en gives, and no segment lies wholly inside a pause
    (with VAD off, tiny.en repeated sentence A's second half 10 s into the minute)."""
    pauses, spans = speech_with_pauses(tmp_path)
    async with engine(tmp_path) as svc:
        results = await run_default(svc, [DATA / "long_speech.mp3", pauses])

    _, long_text = results["long_speech.mp3"]
    assert chapters_missing(words(long_text.text)) == [], long_text.text
    assert wer(LONG, long_text.text) <= 0.15, long_text.text  # ~0.07 measured

    _, paused = results["pauses.wav"]
    heard = words(paused.text)
    for name, content in SENTENCE_WORDS.items():
        assert found(content, heard) >= 0.75, (name, paused.text)
    assert wer(f"{SPEECH} {SECOND} {VIDEO}", paused.text) <= 0.25, paused.text
    for segment in paused.segments:
        # Each segment overlaps a sentence (VAD maps times back to the file's own).
        assert any(segment.start < end + 1 and segment.end > start - 1 for start, end in spans), (
            segment,
            spans,
        )
