"""The transcriber feeds long audio to faster-whisper in pieces cut in pauses (fake model)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from whisper_ui.audio import SAMPLE_RATE
from whisper_ui.domain import InfoReady, JobEvent, Resume, SegmentAdded, TranscribeOptions
from whisper_ui.engine.transcriber import transcribe


def speech_with_pauses(seconds: float, every_s: float = 7.0) -> np.ndarray:
    """A tone (stands for speech) with a 1 s pause every `every_s` seconds."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for start in np.arange(every_s - 1.0, seconds, every_s):
        samples[int(start * SAMPLE_RATE) : int((start + 1.0) * SAMPLE_RATE)] = 0.0
    return samples


class FakeModel:
    """Records what it is given; answers one 2 s segment per started 4 s of audio."""

    def __init__(self, language: str = "de") -> None:
        self.calls: list[dict[str, Any]] = []
        self.language = language

    def transcribe(self, audio: np.ndarray, **kw: Any) -> tuple[Any, Any]:
        self.calls.append({"seconds": len(audio) / SAMPLE_RATE, **kw})
        n = int(np.ceil(len(audio) / SAMPLE_RATE / 4))
        segments = (
            SimpleNamespace(
                start=4.0 * i, end=4.0 * i + 2.0, text=f" s{len(self.calls)}.{i}", words=[],
                avg_logprob=-0.2, no_speech_prob=0.01,
            )
            for i in range(n)
        )  # fmt: skip
        return segments, SimpleNamespace(language=self.language, language_probability=0.9)


def run(model: FakeModel, audio: np.ndarray, **kw: Any) -> tuple[Any, list[JobEvent]]:
    events: list[JobEvent] = []
    options = TranscribeOptions(initial_prompt="Kubernetes, Grafana")
    result = transcribe(
        model, audio, options, job_id="j", emit=events.append, should_cancel=lambda: False, **kw
    )
    return result, events


def test_long_audio_goes_in_pieces_cut_in_pauses_and_comes_back_as_one_transcript() -> None:
    model = FakeModel()
    audio = speech_with_pauses(100.0)
    transcript, events = run(model, audio, piece_s=30.0)
    assert len(model.calls) >= 4 and all(c["seconds"] <= 30.0 for c in model.calls)
    assert sum(c["seconds"] for c in model.calls) == pytest.approx(100.0, abs=1e-3)
    # every cut is in a pause (the tone is silent 1 s before each multiple of 7 s)
    cut = 0.0
    for call in model.calls[:-1]:
        cut += call["seconds"]
        assert (cut + 1e-3) % 7.0 > 6.0 - 1e-3, cut
    # the first piece detects the language, the others are told it; hints go to every piece
    assert model.calls[0]["language"] is None
    assert all(c["language"] == "de" for c in model.calls[1:])
    assert all(c["initial_prompt"] == "Kubernetes, Grafana" for c in model.calls)
    assert [type(e) for e in events].count(InfoReady) == 1
    assert transcript.info.language == "de" and transcript.info.duration == pytest.approx(100.0)
    ids = [s.id for s in transcript.segments]
    assert ids == list(range(len(ids)))
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end <= 100.0 + 2.0
    added = [e.segment for e in events if isinstance(e, SegmentAdded)]
    assert added == list(transcript.segments)


def test_short_audio_is_one_call_as_before() -> None:
    model = FakeModel()
    transcript, _ = run(model, speech_with_pauses(20.0), piece_s=30.0)
    assert [c["seconds"] for c in model.calls] == [pytest.approx(20.0)]
    assert len(transcript.segments) == 5


def test_a_resumed_job_is_cut_after_its_offset_and_keeps_numbering() -> None:
    model = FakeModel()
    transcript, _ = run(
        model, speech_with_pauses(100.0), piece_s=30.0, resume=Resume(offset_s=40.0, next_id=9)
    )
    assert sum(c["seconds"] for c in model.calls) == pytest.approx(60.0, abs=1e-3)
    assert transcript.segments[0].id == 9 and transcript.segments[0].start >= 40.0
