"""The official `openai` package, unchanged, against our /v1 routes (real tiny.en and base)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.audio import TranscriptionDiarized

from tests.conftest import DATA, words
from tests.integration.test_api_jobs import Running, serve

pytestmark = [
    pytest.mark.integration,
    # the openai package marks audio.translations deprecated; the route still exists
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),
]

SPEECH_WORDS = {"lazy", "tuesday", "weather", "sunny"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serve(tmp_path_factory.mktemp("openai")) as server:
        yield server


@pytest.fixture
def client(running: Running) -> OpenAI:
    return OpenAI(base_url=f"{running.url}/v1", api_key="x", timeout=120, max_retries=0)


def speech() -> Path:
    return DATA / "speech.wav"


def test_json_is_the_default_format(client: OpenAI) -> None:
    with speech().open("rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert words(result.text) >= SPEECH_WORDS


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_text_formats(client: OpenAI, fmt: Literal["text", "srt", "vtt"]) -> None:
    with speech().open("rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format=fmt,
        )
    assert isinstance(result, str) and words(result) >= SPEECH_WORDS
    if fmt == "srt":
        assert result.startswith("1\n00:00:00,000 --> ")
    elif fmt == "vtt":
        assert result.startswith("WEBVTT") and "00:00.000 --> " in result
    else:
        assert "-->" not in result


def test_verbose_json_has_segments_by_default_and_words_when_asked(client: OpenAI) -> None:
    with speech().open("rb") as f:
        plain = client.audio.transcriptions.create(
            model="tiny.en", file=f, response_format="verbose_json", language="en"
        )
    assert plain.language == "english" and 9 < plain.duration < 10.5  # as OpenAI names it
    assert plain.segments and plain.words is None
    assert words(" ".join(s.text for s in plain.segments)) >= SPEECH_WORDS

    with speech().open("rb") as f:
        both = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            temperature=0.0,
            prompt="A weather report.",
        )
    assert both.words and both.segments
    assert words(" ".join(w.word for w in both.words)) >= SPEECH_WORDS
    assert all(w.start <= w.end for w in both.words)
    assert [w.start for w in both.words] == sorted(w.start for w in both.words)

    with speech().open("rb") as f:
        only_words = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
    assert only_words.words and only_words.segments is None


def test_stream_deltas_concatenate_to_the_final_text(tmp_path: Path) -> None:
    # its own server, beam 1 by default: more segments, sooner, and no competing jobs
    with serve(tmp_path, beam_size=1) as running:
        streaming = OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0)
        with (DATA / "long_speech.mp3").open("rb") as f:
            stream = streaming.audio.transcriptions.create(
                model="whisper-1", file=f, stream=True, extra_body={"temperature": 0.0}
            )
            events = list(stream)
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert done.type == "transcript.text.done"
    assert len(deltas) >= 4, "one delta per decoded segment"
    assert "".join(d.delta for d in deltas) == done.text
    assert {"chapter", "ocean", "mountains"} <= words(done.text)


def test_translation_with_the_multilingual_base_model(client: OpenAI) -> None:
    with speech().open("rb") as f:
        result = client.audio.translations.create(model="base", file=f)
    assert {"lazy", "weather", "sunny"} <= words(result.text)


def test_translation_with_an_english_only_model_is_400(client: OpenAI) -> None:
    with speech().open("rb") as f, pytest.raises(openai.BadRequestError) as info:
        client.audio.translations.create(model="whisper-1", file=f)
    assert "English-only" in info.value.message


def test_a_file_that_is_not_audio_is_400_naming_it(client: OpenAI) -> None:
    with (DATA / "not_audio.mp3").open("rb") as f, pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert "not_audio.mp3" in info.value.message
    assert info.value.code == "invalid_file"


def test_unknown_model_is_400_and_models_are_listed(client: OpenAI) -> None:
    with speech().open("rb") as f, pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=f)
    assert "unknown model" in info.value.message
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "whisper-1" and {"tiny.en", "base"} <= set(ids)
    assert client.models.retrieve("base").id == "base"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_a_client_that_hangs_up_cancels_its_job(running: Running) -> None:
    with (DATA / "long_speech.mp3").open("rb") as f, pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{running.url}/v1/audio/transcriptions", files={"file": f}, timeout=1.5)
    deadline = time.monotonic() + 20
    while True:
        jobs = httpx.get(f"{running.url}/api/jobs", params={"status": "cancelled"}).json()["jobs"]
        if any(j["name"] == "long_speech.mp3" for j in jobs):
            break
        assert time.monotonic() < deadline, "the abandoned job was not cancelled"
        time.sleep(0.1)


def test_diarized_json_is_read_by_the_official_client(client: OpenAI) -> None:
    clip = (
        "data:audio/mpeg;base64," + base64.b64encode((DATA / "voice_b.mp3").read_bytes()).decode()
    )
    with (DATA / "interview.mp3").open("rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="diarized_json",
            known_speaker_names=["agent"],
            known_speaker_references=[clip],
        )
    assert isinstance(result, TranscriptionDiarized), type(result)
    speakers = [s.speaker for s in result.segments]
    assert set(speakers) == {"A", "agent"}  # the unnamed voice is lettered, as OpenAI does
    assert speakers[0] == "A" and all(s.type == "transcript.text.segment" for s in result.segments)
    assert result.task == "transcribe" and 18 < result.duration < 21


def test_a_reference_that_is_not_audio_is_a_400_naming_it(client: OpenAI) -> None:
    text = "data:text/plain;base64," + base64.b64encode(b"hello, not audio").decode()
    with (DATA / "interview.mp3").open("rb") as f, pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="diarized_json",
            known_speaker_names=["agent"],
            known_speaker_references=[text],
        )
    assert "known_speaker_references[0]" in str(err.value)
