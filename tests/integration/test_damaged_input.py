"""Damaged input says so (issue 12, item 4), through the real services and tiny.en.

A cut-off upload used to end "completed" with "(no speech found)" and nothing else.
Now it completes with a warning in the job (`warnings`), which the jobs API shows,
the event stream sends (`warning`) and the journal keeps across a restart; a good file
in the same batch has none. The damaged files are cut from the committed fixtures in
tmp_path (tests/unit/test_warnings.py has what PyAV makes of them).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DATA, in_process_api, until, words
from tests.spoken import found
from whisper_ui.config import Settings
from whisper_ui.domain import NO_SPEECH, JobStatus, SegmentAdded, Upload
from whisper_ui.services import build_services

pytestmark = pytest.mark.integration

FIRST_HALF = {"quick", "over", "lazy"}  # sentence A before the cut (tests/data/README.md)
SECOND_HALF = {"sunny", "degrees"}


def head(name: str, keep: int | float) -> bytes:
    """The first `keep` bytes (int) or fraction (float) of a committed fixture."""
    data = (DATA / name).read_bytes()
    return data[: keep if isinstance(keep, int) else int(len(data) * keep)]


async def post(client: httpx.AsyncClient, files: dict[str, bytes]) -> dict[str, str]:
    """Submit `files` (name -> bytes) as one batch with the default options; job id by name."""
    parts = [("files", (n, b, "application/octet-stream")) for n, b in files.items()]
    r = await client.post("/api/jobs", files=parts)
    assert r.status_code == 202, r.text
    return {j["name"]: j["id"] for j in r.json()["jobs"]}


async def finished(client: httpx.AsyncClient, job_id: str, timeout: float = 120) -> Any:
    """GET /api/jobs/{id} until the job has ended (a deadline, not a sleep)."""

    async def ended() -> Any:
        body = (await client.get(f"/api/jobs/{job_id}")).json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    deadline = asyncio.get_running_loop().time() + timeout
    while (body := await ended()) is None:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"job {job_id} did not end in {timeout} s")
        await asyncio.sleep(0.05)
    return body


async def test_a_cut_off_file_completes_with_a_warning_the_api_shows_and_a_restart_keeps(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", concurrency=2)
    files = {
        "cut.mp3": head("speech.mp3", 3000),  # 0.65 s of the 9.8 s its header states
        "half.flac": head("speech.flac", 0.5),  # 4.9 s, then "invalid data" on the cut frame
        "speech.mp3": head("speech.mp3", 1.0),
    }
    async with in_process_api(settings, persist=True) as (client, services):
        ids = await post(client, files)
        jobs = {name: await finished(client, job_id) for name, job_id in ids.items()}
        for name, body in jobs.items():
            assert body["status"] == "completed", (name, body["error"])

        # 0.65 s of speech may or may not give a word (VAD, beam): "no speech found" may follow.
        first, *rest = jobs["cut.mp3"]["warnings"]
        assert first == "the file ends early (0.7 s of 9.8 s decoded)" and rest in ([], [NO_SPEECH])
        (stopped,) = jobs["half.flac"]["warnings"]
        assert stopped.startswith("decoding stopped at 4.") and "of 9.8 s: invalid data" in stopped
        assert jobs["speech.mp3"]["warnings"] == []

        # What did decode is transcribed: the first half of sentence A, none of the second.
        half = (await client.get(f"/api/jobs/{ids['half.flac']}/transcript")).text
        assert found(FIRST_HALF, words(half)) >= 2 / 3 and not SECOND_HALF & words(half)
        # The single-transcript download works for the cut file, whatever it holds.
        r = await client.get(f"/api/jobs/{ids['cut.mp3']}/transcript", params={"format": "srt"})
        assert r.status_code == 200

        listed = {j["id"]: j for j in (await client.get("/api/jobs")).json()["jobs"]}
        assert listed[ids["cut.mp3"]]["warnings"] == jobs["cut.mp3"]["warnings"]
        kinds = [e.kind for e in services.bus.history(ids["cut.mp3"])]
        assert kinds.count("warning") == 1 + len(rest) and kinds[-1] == "completed"

    async with in_process_api(settings, persist=True) as (client, services):
        for name, job_id in ids.items():
            body = (await client.get(f"/api/jobs/{job_id}")).json()
            assert body["status"] == "completed"
            assert body["warnings"] == jobs[name]["warnings"], name
        kinds = [e.kind for e in services.bus.history(ids["cut.mp3"])]
        assert kinds.count("warning") == 1 + len(rest) and kinds[-1] == "completed"


async def test_a_resumed_cut_off_file_warns_once(tmp_path: Path) -> None:
    """Stopped mid-file and resumed after a restart, the job decodes its file again and
    finds the same damage: the warning is still there once, not twice."""
    path = tmp_path / "cut_long.mp3"
    path.write_bytes(head("long_speech.mp3", 0.5))  # 44.8 s of the 89.6 s stated
    settings = Settings(data_dir=tmp_path / "data", concurrency=1)
    first = build_services(settings, persist=True)
    await first.start()
    try:
        (job,) = await first.dispatcher.submit(
            [Upload(str(path), path.name)], first.default_options()
        )
        async for event in first.bus.subscribe(job.id):
            if isinstance(event, SegmentAdded):
                break
        await until(lambda: first.registry.get(job.id).warnings, 30, "the warning")  # type: ignore[union-attr]
    finally:
        await first.stop()
    stopped = first.registry.get(job.id)
    assert stopped is not None and stopped.status is JobStatus.QUEUED, "interrupted, to resume"

    second = build_services(settings, persist=True)
    await second.start()
    try:
        done = await asyncio.wait_for(second.dispatcher.wait(job.id), 120)
        assert done.status is JobStatus.COMPLETED
        assert done.warnings == ("the file ends early (0:44 of 1:30 decoded)",)
        transcript = second.registry.transcript(job.id)
        assert transcript is not None and "chapter" in words(transcript.text)
        assert [e.kind for e in second.bus.history(job.id)].count("warning") == 1
    finally:
        await second.stop()
