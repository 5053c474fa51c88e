"""`GET /api/search` over real transcripts (tiny.en), through the in-process API:
words from any of a person's files, phrases and prefixes, corrections, a restart;
never another person's; a query that cannot be searched is a 400 with the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATA, in_process_api
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings

pytestmark = pytest.mark.integration
ALICE, BOB = ("alice", "pw-alice"), ("bob", "pw-bob")
CREDENTIALS = Credentials.build([":".join(ALICE), ":".join(BOB)])


async def send(client: httpx.AsyncClient, who: tuple[str, str], *names: str) -> dict[str, str]:
    files = [("files", (n, (DATA / n).read_bytes(), "audio/wav")) for n in names]
    r = await client.post("/api/jobs", files=files, auth=who)
    assert r.status_code == 202, r.text
    ids = {j["name"]: j["id"] for j in r.json()["jobs"]}
    deadline = asyncio.get_running_loop().time() + 120
    for job_id in ids.values():
        while (body := (await client.get(f"/api/jobs/{job_id}", auth=who)).json())[
            "status"
        ] not in ("completed", "failed", "cancelled"):
            assert asyncio.get_running_loop().time() < deadline, f"{job_id} did not end"
            await asyncio.sleep(0.05)
        assert body["status"] == "completed", body
    return ids


async def search(client: httpx.AsyncClient, who: tuple[str, str], q: str) -> Any:
    r = await client.get("/api/search", params={"q": q}, auth=who)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_search_finds_a_persons_words_in_any_file_and_nobody_elses(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", concurrency=2)
    async with in_process_api(settings, CREDENTIALS, persist=True) as (client, _services):
        ids = await send(client, ALICE, "speech.wav", "second_speech.wav")
        await send(client, BOB, "second_speech.wav")

        (hit,) = await search(client, ALICE, "church")
        assert hit["job_id"] == ids["second_speech.wav"] and hit["name"] == "second_speech.wav"
        assert 0 <= hit["start"] < hit["end"] <= 4.5
        assert [hit["snippet"][a:b].lower() for a, b in hit["marks"]] == ["church"]
        assert [h["name"] for h in await search(client, ALICE, "lazy")] == ["speech.wav"]
        assert await search(client, ALICE, "weath*")  # a prefix
        assert await search(client, ALICE, '"the lazy"') and not await search(
            client, ALICE, '"lazy the"'
        )
        assert [h["name"] for h in await search(client, BOB, "church")] == ["second_speech.wav"]
        assert await search(client, BOB, "lazy") == []  # alice's words are not bob's

        # A correction is found at once, and what it replaced is not.
        job = ids["speech.wav"]
        r = await client.get(f"/api/jobs/{job}/segments", auth=ALICE)
        assert r.status_code == 200, r.text
        first = r.json()["segments"][0]
        fixed = first["text"] + " Zebrafinch."
        r = await client.patch(f"/api/jobs/{job}/segments/{first['id']}", json={"text": fixed},
                               auth=ALICE)  # fmt: skip
        assert r.status_code == 200, r.text
        assert [h["job_id"] for h in await search(client, ALICE, "zebrafinch")] == [job]

        for bad, code in (('"lazy dog', "unclosed_quote"), ("  ", "empty_query")):
            r = await client.get("/api/search", params={"q": bad}, auth=ALICE)
            assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
        r = await client.get("/api/search", params={"q": "x" * 300}, auth=ALICE)
        assert r.status_code == 400, r.text
        r = await client.get("/api/search", params={"q": "lazy"})
        assert r.status_code == 401

    # After a restart the index is rebuilt from the journal, corrections included.
    async with in_process_api(settings, CREDENTIALS, persist=True) as (client, _services):
        assert [h["job_id"] for h in await search(client, ALICE, "zebrafinch")] == [job]
        assert await search(client, BOB, "zebrafinch") == []
        r = await client.delete(f"/api/jobs/{job}", params={"purge": "true"}, auth=ALICE)
        assert r.status_code == 202, r.text
        assert await search(client, ALICE, "zebrafinch") == []
