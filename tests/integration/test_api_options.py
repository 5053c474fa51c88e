"""Options and names over the API, in process: an ASGI client, the real services and model.

No server is the point here, so requests go in process (`tests.conftest.in_process_api`).
These are the bugs found when the project was read afresh:
`language=auto` could not override a configured default language, and the API cut a
file's extension twice (`talk.final.mp3` exported as `talk.*`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATA, in_process_api, words
from whisper_ui.config import Settings
from whisper_ui.services import Services

pytestmark = pytest.mark.integration


@pytest.fixture
async def english_default(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The API of a server configured to a default language (English: tiny.en is English-only)."""
    settings = Settings(data_dir=tmp_path, language="en", concurrency=1)
    async with in_process_api(settings) as api:
        yield api


async def post_job(client: httpx.AsyncClient, name: str, fixture: str, **fields: str) -> Any:
    files = [("files", (name, (DATA / fixture).read_bytes(), "application/octet-stream"))]
    r = await client.post("/api/jobs", files=files, data=fields)
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]


async def test_language_auto_overrides_a_configured_default_and_omitted_keeps_it(
    english_default: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = english_default
    auto = await post_job(client, "a.wav", "speech.wav", language="auto", beam_size="1")
    left_out = await post_job(client, "b.wav", "speech.wav", beam_size="1")
    explicit = await post_job(client, "c.wav", "speech.wav", language="EN", beam_size="1")
    assert auto["options"]["language"] is None, auto["options"]
    assert left_out["options"]["language"] == "en"
    assert explicit["options"]["language"] == "en"
    for job in (auto, left_out, explicit):
        services.dispatcher.cancel(job["id"])


async def test_openai_language_auto_overrides_a_configured_default(
    english_default: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = english_default
    files = {"file": ("speech.wav", (DATA / "speech.wav").read_bytes())}
    r = await client.post(
        "/v1/audio/transcriptions",
        files=files,
        data={"model": "whisper-1", "language": "auto", "response_format": "verbose_json"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"] == "english"
    assert {"lazy", "tuesday", "weather"} <= words(body["text"])
    (job,) = services.registry.jobs()
    assert job.options.language is None, "auto detects; it does not fall back to the default"


async def test_a_name_with_two_dots_keeps_its_inner_one_in_the_download(
    english_default: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = english_default
    job = await post_job(client, "talk.final.wav", "second_speech.wav", language="en")
    await services.dispatcher.wait(job["id"])
    r = await client.get(f"/api/jobs/{job['id']}/transcript", params={"format": "srt"})
    assert r.status_code == 200, r.text
    assert 'filename="talk.final.srt"' in r.headers["content-disposition"]
    assert {"parked", "church"} <= words(r.text)


async def test_a_non_latin_name_downloads_with_an_encoded_header(
    english_default: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = english_default
    name = "Réunion — 会议 (final).wav"
    job = await post_job(client, name, "second_speech.wav", language="en")
    await services.dispatcher.wait(job["id"])
    r = await client.get(f"/api/jobs/{job['id']}/transcript")
    assert r.status_code == 200, r.text
    header = r.headers["content-disposition"]
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == "Réunion — 会议 (final).txt"
    assert header.isascii()
