"""Corrections over the API, in process, with the real model: PATCH a segment, see it in
every rendering of the transcript, keep it across a restart, restore it; bad input is a
400 naming the reason with nothing changed; another person's job is a 404."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATA, in_process_api, words
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings

pytestmark = pytest.mark.integration
ANN = ("ann", "ann-pw")
BOB = ("bob", "bob-pw")
CREDENTIALS = Credentials.build([":".join(ANN), ":".join(BOB)])
FIX = "Zebra xylophone"  # words the recording never says


async def finished(client: httpx.AsyncClient, job_id: str, timeout: float = 120) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = (await client.get(f"/api/jobs/{job_id}", auth=ANN)).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        if loop.time() > deadline:
            pytest.fail(f"job {job_id} did not end in {timeout} s")
        await asyncio.sleep(0.05)


async def submit(client: httpx.AsyncClient, name: str) -> str:
    with (DATA / name).open("rb") as handle:
        r = await client.post("/api/jobs", files={"files": (name, handle)}, auth=ANN)
    assert r.status_code == 202, r.text
    job_id: str = r.json()["jobs"][0]["id"]
    return job_id


async def segments(client: httpx.AsyncClient, job_id: str) -> Any:
    r = await client.get(f"/api/jobs/{job_id}/segments", auth=ANN)
    assert r.status_code == 200, r.text
    return r.json()


async def transcript(client: httpx.AsyncClient, job_id: str, fmt: str) -> str:
    r = await client.get(f"/api/jobs/{job_id}/transcript", params={"format": fmt}, auth=ANN)
    assert r.status_code == 200, r.text
    return r.text


def refused(r: httpx.Response, code: str) -> str:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


async def test_an_edit_shows_everywhere_survives_a_restart_and_can_be_restored(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", concurrency=1)
    async with in_process_api(settings, CREDENTIALS, persist=True) as (client, services):
        job_id = await submit(client, "speech.wav")
        assert (await finished(client, job_id))["status"] == "completed"
        before = await segments(client, job_id)
        assert before["revision"] == 0 and not any(s["edited"] for s in before["segments"])
        first = before["segments"][0]

        r = await client.patch(f"/api/jobs/{job_id}/segments/0", json={"text": FIX}, auth=ANN)
        assert r.status_code == 200, r.text
        assert r.json() == {
            **{k: first[k] for k in ("id", "start", "end")},
            "text": FIX,
            "edited": True,
            "original": {k: first[k] for k in ("start", "end", "text")},
            "speaker": None,  # speakers were off
        }
        for fmt in ("txt", "srt", "vtt", "json", "tsv"):
            assert FIX in await transcript(client, job_id, fmt), fmt
        # The page's downloads read the same registry transcript.
        assert FIX in services.registry.transcript(job_id).text  # type: ignore[union-attr]
        listed = await segments(client, job_id)
        assert listed["revision"] == 1 and listed["segments"][0]["edited"] is True
        assert listed["segments"][0]["original"]["text"] == first["text"]

        # Bad input: 400 with the reason, nothing changed.
        url = f"/api/jobs/{job_id}/segments/0"
        start, end = first["start"], first["end"]
        cases = [
            ({"start": end + 0.5, "end": end}, "start_after_end"),
            ({"text": "x" * 2**20}, "text_too_long"),
            ({"end": 10_000.0}, "past_the_end"),
            ({}, "empty_edit"),
        ]
        if len(before["segments"]) > 1:
            cases.append(({"end": before["segments"][1]["start"] + 0.5}, "overlaps_next"))
        for body, code in cases:
            refused(await client.patch(url, json=body, auth=ANN), code)
        message = refused(
            await client.patch(f"/api/jobs/{job_id}/segments/999", json={"text": "x"}, auth=ANN),
            "segment_not_found",
        )
        assert "no segment 999" in message
        r = await client.patch(url, json={"speaker": "A"}, auth=ANN)
        assert r.status_code == 400 and "speaker" in r.text
        assert (await segments(client, job_id)) == listed
        assert (start, end) == (listed["segments"][0]["start"], listed["segments"][0]["end"])

        # Another person's job does not exist for them.
        for method, path in (
            ("PATCH", url),
            ("GET", f"/api/jobs/{job_id}/segments"),
            ("DELETE", url),
            ("DELETE", f"/api/jobs/{job_id}/segments"),
        ):
            r = await client.request(method, path, json={"text": "x"}, auth=BOB)
            assert r.status_code == 404, (method, path, r.text)
        assert (await segments(client, job_id)) == listed

        # Two writes to the same segment: the later wins.
        await client.patch(url, json={"text": "never kept"}, auth=ANN)
        r = await client.patch(url, json={"text": FIX}, auth=ANN)
        assert r.json()["text"] == FIX

    async with in_process_api(settings, CREDENTIALS, persist=True) as (client, services):
        assert FIX in await transcript(client, job_id, "srt")
        assert (await segments(client, job_id))["segments"][0]["edited"] is True
        r = await client.delete(f"/api/jobs/{job_id}/segments/0", auth=ANN)
        assert r.status_code == 200 and r.json()["edited"] is False, r.text
        assert r.json()["text"] == first["text"]
        text = await transcript(client, job_id, "txt")
        assert FIX not in text and {"quick", "fox"} & words(text)

        await client.patch(url, json={"text": FIX}, auth=ANN)
        r = await client.delete(f"/api/jobs/{job_id}/segments", auth=ANN)
        assert r.status_code == 200, r.text
        assert not any(s["edited"] for s in r.json()["segments"])
        assert FIX not in await transcript(client, job_id, "json")


async def test_a_running_job_waits_and_a_neighbour_s_time_is_not_taken(tmp_path: Path) -> None:
    """While a job is queued or running its segments are still arriving: 409. Once
    done, a segment's new times may touch its neighbours but not overlap them."""
    settings = Settings(data_dir=tmp_path / "data", concurrency=1)
    async with in_process_api(settings, CREDENTIALS) as (client, _):
        job_id = await submit(client, "long_speech.mp3")
        r = await client.patch(f"/api/jobs/{job_id}/segments/0", json={"text": "x"}, auth=ANN)
        assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_state", r.text
        assert "edit it once it has finished" in r.json()["error"]["message"]
        assert (await finished(client, job_id, timeout=300))["status"] == "completed"

        listed = await segments(client, job_id)
        assert len(listed["segments"]) >= 3, listed
        first, second, third = listed["segments"][:3]
        url = f"/api/jobs/{job_id}/segments/{second['id']}"
        message = refused(
            await client.patch(url, json={"start": first["end"] - 0.5}, auth=ANN),
            "overlaps_previous",
        )
        assert f"segment {first['id']}" in message
        refused(
            await client.patch(url, json={"end": third["start"] + 0.5}, auth=ANN), "overlaps_next"
        )
        assert (await segments(client, job_id)) == listed
        r = await client.patch(url, json={"end": second["end"] - 1.0}, auth=ANN)
        assert r.status_code == 200 and r.json()["edited"] is True, r.text
        assert r.json()["text"] == second["text"]  # only the times changed
        touching = {"start": first["end"], "end": third["start"]}
        r = await client.patch(url, json=touching, auth=ANN)
        assert r.status_code == 200, r.text
        if (first["end"], third["start"]) == (second["start"], second["end"]):
            assert r.json()["edited"] is False  # back to the model's times: a restore
        assert (r.json()["start"], r.json()["end"]) == (first["end"], third["start"])
