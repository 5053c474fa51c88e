"""Short encoding: a window's encoder pass covers its audio, not 30 s of zeros, with a
guard that redoes a window at full length when the short one repeats or stops early."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from bench.wer import wer
from tests.conftest import DATA
from tests.spoken import LONG, SPEECH
from whisper_ui import audio
from whisper_ui.engine.short_encode import FRAMES, ends_early, install, plan_window


def padded(content: int, n_mels: int = 80) -> np.ndarray:
    window = np.zeros((n_mels, FRAMES), np.float32)
    window[:, :content] = np.random.default_rng(1).uniform(-1.0, 1.0, (n_mels, content))
    return window


def test_a_window_is_encoded_at_its_content_plus_tail_never_under_the_floor() -> None:
    assert plan_window(padded(1500)).frames == 1700  # 15 s + 2 s of tail
    assert plan_window(padded(1501)).frames == 1702  # even: the encoder halves it
    assert plan_window(padded(300)).frames == 1000  # 3 s: the 10 s floor
    assert plan_window(padded(2900)).frames == FRAMES  # never more than the window
    assert not plan_window(padded(FRAMES)).short
    three_d = plan_window(padded(1500)[None])
    assert (three_d.content, three_d.frames) == (1500, 1700)
    assert plan_window(padded(0)).frames == 1000  # all zeros: the floor


def test_ends_early_reads_the_last_timestamp() -> None:
    begin = 50000  # timestamp tokens from here, 20 ms each
    text = [10, 11, 12]
    assert not ends_early([begin, *text, begin + 240], begin, 5.0)  # text up to 4.8 s
    assert ends_early([begin, *text, begin + 50], begin, 12.0)  # stops at 1 s of 12
    assert not ends_early(text, begin, 12.0)  # no timestamps, but text
    assert ends_early([], begin, 12.0)  # nothing at all from 12 s of content
    assert not ends_early([], begin, 2.0)  # 2 s may well hold no speech


class _Model:
    """Records encode calls; decodes to what `outcomes` says, one per call."""

    def __init__(self, outcomes: list[tuple[list[int], float]]) -> None:
        self.encoded: list[int] = []
        self.outcomes = outcomes

    def encode(self, features: np.ndarray) -> int:
        self.encoded.append(features.shape[-1])
        return features.shape[-1]

    def generate_with_fallback(self, enc: Any, prompt: Any, tok: Any, opts: Any) -> Any:
        tokens, compression = self.outcomes.pop(0)
        return SimpleNamespace(sequences_ids=[tokens]), -0.1, 0.0, compression


TOKENIZER = SimpleNamespace(timestamp_begin=50000)
OPTIONS = SimpleNamespace(compression_ratio_threshold=2.4)
FINE = ([50000, 1, 2, 50000 + 240], 1.2)  # text up to 4.8 s


@pytest.mark.parametrize(
    ("first", "redone"),
    [
        (FINE, False),
        (([50000, 1, 1, 1, 50000 + 240], 3.1), True),  # repeats
        (([50000, 1, 50000 + 40], 1.0), True),  # stops at 0.8 s of 5
    ],
)
def test_the_guard_redoes_a_short_window_at_full_length(
    first: tuple[list[int], float], redone: bool
) -> None:
    model = _Model([first, FINE])
    install(model)
    install(model)  # once only
    model.encode(padded(500))
    result = model.generate_with_fallback(None, [], TOKENIZER, OPTIONS)
    assert model.encoded == ([1000, FRAMES] if redone else [1000])
    assert result[0].sequences_ids[0] == (FINE[0] if redone else first[0])


def test_a_full_window_is_never_redone() -> None:
    model = _Model([([50000, 1, 50000 + 40], 3.0)])
    install(model)
    model.encode(padded(FRAMES))
    model.generate_with_fallback(None, [], TOKENIZER, OPTIONS)
    assert model.encoded == [FRAMES]


@pytest.mark.parametrize(("name", "truth"), [("speech.wav", SPEECH), ("long_speech.mp3", LONG)])
def test_real_speech_encoded_short_gives_the_same_words(
    tiny_model_path: Path, name: str, truth: str
) -> None:
    from faster_whisper import WhisperModel

    samples = audio.decode(str(DATA / name))
    full = WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8", cpu_threads=2)
    short = WhisperModel(str(tiny_model_path), device="cpu", compute_type="int8", cpu_threads=2)
    frames: list[int] = []  # what reaches CTranslate2's encoder
    inner = short.encode
    short.encode = lambda f: frames.append(f.shape[-1]) or inner(f)
    install(short)

    def text(model: Any) -> str:
        return " ".join(s.text for s in model.transcribe(samples, beam_size=5)[0])

    full_wer, short_wer = wer(truth, text(full)), wer(truth, text(short))
    assert any(n < FRAMES for n in frames)  # the clip, or the long file's last window
    assert short_wer <= full_wer + 0.03, (short_wer, full_wer)
