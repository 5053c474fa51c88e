"""Long audio in pieces with the real tiny.en model: the same words as one call."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wer import wer
from tests.conftest import DATA, words
from tests.spoken import chapters_missing
from whisper_ui import audio
from whisper_ui.domain import TranscribeOptions
from whisper_ui.engine.transcriber import transcribe

pytestmark = pytest.mark.integration


def test_pieces_cut_in_pauses_give_the_same_words_as_one_call(tiny_model_path: Path) -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8", cpu_threads=2)
    samples = audio.decode(str(DATA / "long_speech.mp3"))  # 90 s, a pause between sentences

    def run(piece_s: float) -> str:
        result = transcribe(
            model, samples, TranscribeOptions(), job_id="j", emit=lambda e: None,
            should_cancel=lambda: False, piece_s=piece_s,
        )  # fmt: skip
        starts = [s.start for s in result.segments]
        assert starts == sorted(starts) and result.segments[-1].end <= 90.5
        assert [s.id for s in result.segments] == list(range(len(result.segments)))
        return result.text

    whole = run(10_000.0)
    pieces = run(35.0)  # three pieces or more
    assert chapters_missing(words(pieces)) == []
    assert wer(whole, pieces) <= 0.10, (whole, pieces)
