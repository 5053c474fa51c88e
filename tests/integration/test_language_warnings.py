"""Speech an English-only model cannot transcribe is flagged (issue 12, item 3).

tiny.en reports English at 100 % whatever it hears, so German came out as confident
English nonsense with no word on the page. Now the file completes with a warning
(engine/language_check), through the real services and model; English speech gets
none, and the multilingual `base` model, which detects the language, is not
second-guessed. The speech is espeak-ng's, committed (tests/data/make_fixtures.sh):
made at test time it depended on the espeak-ng version, and base heard Thai in the
German of espeak-ng 1.51's default voice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, in_process_api
from tests.integration.test_damaged_input import finished
from whisper_ui.config import Settings
from whisper_ui.domain import NO_SPEECH, WORDLESS_SPEECH

pytestmark = pytest.mark.integration

UNSURE = "the model was unsure of most of this text"


def language_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if w.startswith((UNSURE, WORDLESS_SPEECH))]


async def test_other_languages_get_a_warning_with_tiny_en_and_english_does_not(
    tmp_path: Path,
) -> None:
    files = {
        "german.ogg": (DATA / "german.ogg").read_bytes(),
        "portuguese.ogg": (DATA / "portuguese.ogg").read_bytes(),
        "speech.wav": (DATA / "speech.wav").read_bytes(),
        "speech_8k.wav": (DATA / "speech_8k.wav").read_bytes(),
        "silence.wav": (DATA / "silence.wav").read_bytes(),
    }
    settings = Settings(data_dir=tmp_path / "data", concurrency=2)
    async with in_process_api(settings) as (client, _services):
        parts = [("files", (n, b, "audio/wav")) for n, b in files.items()]
        r = await client.post("/api/jobs", files=parts)
        assert r.status_code == 202, r.text
        ids = {j["name"]: j["id"] for j in r.json()["jobs"]}
        jobs = {name: await finished(client, job_id) for name, job_id in ids.items()}

    for body in jobs.values():
        assert body["status"] == "completed", body
    (german,) = language_warnings(jobs["german.ogg"]["warnings"])
    assert german.startswith(UNSURE) and "tiny.en" in german and "base" in german
    # Portuguese gave no words on both ISAs tried, or unsure words: either way it is said,
    # and an empty one is not called "no speech found".
    portuguese = jobs["portuguese.ogg"]["warnings"]
    assert len(language_warnings(portuguese)) == 1, portuguese
    if portuguese[0].startswith(WORDLESS_SPEECH):
        assert NO_SPEECH not in portuguese
    assert jobs["speech.wav"]["warnings"] == []
    assert jobs["speech_8k.wav"]["warnings"] == []
    assert jobs["silence.wav"]["warnings"] == [NO_SPEECH]  # no voice heard: not a language


async def test_a_multilingual_model_is_not_second_guessed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", concurrency=1)
    async with in_process_api(settings) as (client, _services):
        r = await client.post(
            "/api/jobs",
            files=[("files", ("german.ogg", (DATA / "german.ogg").read_bytes(), "audio/ogg"))],
            data={"model": "base"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["jobs"][0]["id"]
        body = await finished(client, job_id, timeout=240)
        data = (await client.get(f"/api/jobs/{job_id}/transcript?format=json")).json()
    assert body["status"] == "completed", body
    assert body["warnings"] == []
    assert data["language"] == "de"
