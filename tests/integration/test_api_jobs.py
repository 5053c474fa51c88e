"""The jobs API over real HTTP: uvicorn in a thread, the real tiny.en model, httpx as client.

`serve` (also used by the OpenAI and schema tests) builds the API the way app.py does,
without mounting the Gradio UI, which would only add start-up time here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import DATA, free_port, wait_until, words
from whisper_ui.api import include_api
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings
from whisper_ui.services import Services, build_services

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Running:
    url: str
    services: Services


@contextlib.contextmanager
def serve(
    data_dir: Path, credentials: Credentials | None = None, **settings: Any
) -> Iterator[Running]:
    """Run the API (real services, real model) on a free port until the block ends."""
    services = build_services(Settings(data_dir=data_dir, **{"concurrency": 2, **settings}))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(title="whisper-ui", lifespan=lifespan)
    include_api(app, services, credentials or Credentials())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the API server did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", services)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        serve(tmp_path_factory.mktemp("api")) as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        yield client


def upload(*names: str) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, (DATA / name).read_bytes())) for name in names]


def submit(client: httpx.Client, *names: str, **fields: str) -> list[dict[str, Any]]:
    r = client.post("/api/jobs", files=upload(*names), data=fields)
    assert r.status_code == 202, r.text
    jobs: list[dict[str, Any]] = r.json()["jobs"]
    return jobs


def wait_for(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def read_sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream into {id, event, data} messages."""
    message: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        message[field] = json.loads(value) if field == "data" else value


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# ---- submit, list, follow, download ------------------------------------------------


def test_submit_many_files_then_list_filter_and_download_every_format(
    api: httpx.Client,
) -> None:
    jobs = submit(api, "speech.wav", "second_speech.wav", "not_audio.mp3", beam_size="1")
    assert [j["name"] for j in jobs] == ["speech.wav", "second_speech.wav", "not_audio.mp3"]
    speech, second, bad = jobs
    assert bad["status"] == "failed" and "not_audio.mp3" in bad["error"]
    assert speech["status"] == "queued" and speech["queue_position"] is not None
    assert speech["options"]["beam_size"] == 1 and speech["submitter"] == "anonymous"
    assert len({j["batch_id"] for j in jobs}) == 1

    done = wait_for(api, speech["id"])
    assert done["status"] == "completed" and done["progress"] == 1.0
    assert done["started_at"] <= done["finished_at"] and done["device"] == "cpu"
    assert wait_for(api, second["id"])["status"] == "completed"

    failed = api.get("/api/jobs", params={"status": "failed"}).json()["jobs"]
    assert bad["id"] in {j["id"] for j in failed}
    assert all(j["status"] == "failed" for j in failed)
    every = {j["id"] for j in api.get("/api/jobs").json()["jobs"]}
    assert {speech["id"], second["id"], bad["id"]} <= every

    texts = {}
    for fmt in ("txt", "srt", "vtt", "json", "tsv"):
        r = api.get(f"/api/jobs/{speech['id']}/transcript", params={"format": fmt})
        assert r.status_code == 200, r.text
        assert r.headers["x-transcript-complete"] == "true"
        assert f'filename="speech.{fmt}"' in r.headers["content-disposition"]
        texts[fmt] = r.text
    assert {"lazy", "tuesday", "weather", "sunny"} <= words(texts["txt"])
    assert "-->" in texts["srt"] and texts["vtt"].startswith("WEBVTT")
    assert "sunny" in words(" ".join(s["text"] for s in json.loads(texts["json"])["segments"]))
    assert texts["tsv"].splitlines()[0].split("\t")[:2] == ["start", "end"]
    second_txt = api.get(f"/api/jobs/{second['id']}/transcript").text
    assert {"parked", "church"} <= words(second_txt)


def test_a_late_sse_subscriber_gets_every_segment_once_in_order_then_resumes(
    api: httpx.Client,
) -> None:
    (job,) = submit(api, "long_speech.mp3", beam_size="1")
    deadline = time.monotonic() + 60
    while api.get(f"/api/jobs/{job['id']}").json()["progress"] == 0.0:
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    assert api.get(f"/api/jobs/{job['id']}").json()["status"] == "running"  # joined mid-job

    with api.stream("GET", f"/api/jobs/{job['id']}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        messages = list(read_sse(r))
    assert [int(m["id"]) for m in messages] == list(range(len(messages)))
    assert all(m["event"] == m["data"]["kind"] for m in messages)
    assert messages[0]["event"] == "queued" and messages[-1]["event"] == "completed"
    segments = [m["data"]["segment"] for m in messages if m["event"] == "segment"]
    assert len(segments) >= 4
    assert [s["id"] for s in segments] == list(range(len(segments)))
    final = messages[-1]["data"]["transcript"]["segments"]
    assert [s["text"] for s in segments] == [s["text"] for s in final]
    assert {"chapter", "ocean", "mountains"} <= words(" ".join(s["text"] for s in segments))

    resume_after = len(messages) - 3
    headers = {"Last-Event-ID": str(resume_after)}
    with api.stream("GET", f"/api/jobs/{job['id']}/events", headers=headers) as r:
        rest = list(read_sse(r))
    assert [int(m["id"]) for m in rest] == [resume_after + 1, resume_after + 2]


def test_cancel_a_queued_and_a_running_job_then_409_once_finished(api: httpx.Client) -> None:
    first, second, third = submit(api, "long_speech.mp3", "long_speech.mp3", "long_speech.mp3")
    r = api.delete(f"/api/jobs/{third['id']}")  # two slots: the third is still waiting
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    wait_until(
        lambda: api.get(f"/api/jobs/{first['id']}").json()["progress"] > 0.0,
        60,
        "the first job making progress",
    )
    for job in (first, second):
        assert api.delete(f"/api/jobs/{job['id']}").status_code == 202
    assert wait_for(api, first["id"])["status"] == "cancelled"
    assert wait_for(api, second["id"])["status"] == "cancelled"
    assert_error(api.delete(f"/api/jobs/{first['id']}"), 409, "wrong_state")
    # the partial transcript of a cancelled job is still served, marked incomplete
    partial = api.get(f"/api/jobs/{first['id']}/transcript")
    assert partial.status_code == 200 and partial.headers["x-transcript-complete"] == "false"
    assert partial.text.strip()


def test_retry_a_failed_job_and_409_for_a_completed_one(api: httpx.Client) -> None:
    bad, good = submit(api, "not_audio.mp3", "tiny_0.1s.wav")
    r = api.post(f"/api/jobs/{bad['id']}/retry")
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] != bad["id"] and again["name"] == "not_audio.mp3"
    assert again["batch_id"] == bad["batch_id"] and again["status"] == "failed"
    wait_for(api, good["id"])
    error = assert_error(api.post(f"/api/jobs/{good['id']}/retry"), 409, "wrong_state")
    assert "only a failed or cancelled job" in error["message"]


def test_client_file_names_never_become_paths(api: httpx.Client) -> None:
    payload = (DATA / "not_audio.mp3").read_bytes()
    r = api.post("/api/jobs", files=[("files", ("../../étrange name.mp3", payload))])
    (job,) = r.json()["jobs"]
    assert job["name"] == "étrange name.mp3"
    assert job["status"] == "failed" and "étrange name.mp3" in job["error"]


def test_unknown_ids_are_404_everywhere(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/api/jobs/nope"),
        ("GET", "/api/jobs/nope/events"),
        ("GET", "/api/jobs/nope/transcript"),
        ("DELETE", "/api/jobs/nope"),
        ("POST", "/api/jobs/nope/retry"),
        ("GET", "/v1/models/nope"),
    ]:
        assert_error(api.request(method, path), 404)


def test_bad_requests_are_400_in_the_error_shape(api: httpx.Client) -> None:
    error = assert_error(
        api.post("/api/jobs", files=upload("speech.wav"), data={"beam_size": "99"}), 400
    )
    assert "beam_size" in error["message"]
    assert (
        "unknown model"
        in assert_error(
            api.post("/api/jobs", files=upload("speech.wav"), data={"model": "nope"}), 400
        )["message"]
    )
    english_only = assert_error(
        api.post("/api/jobs", files=upload("speech.wav"), data={"task": "translate"}),
        400,
        "invalid_option",
    )
    assert "English-only" in english_only["message"]
    assert_error(api.post("/api/jobs", data={"model": "tiny.en"}), 400)  # no files
    assert_error(api.post("/api/jobs", json={"files": []}), 400, "invalid_content_type")
    assert_error(api.get("/api/jobs", params={"status": "done"}), 400, "validation_error")
    assert_error(api.get("/api/jobs/x/transcript", params={"format": "doc"}), 400)


# ---- limits -----------------------------------------------------------------------------


def test_413_over_max_upload_mb_with_and_without_a_content_length(tmp_path: Path) -> None:
    big = b"\0" * (2 * 2**20)
    with serve(tmp_path, max_upload_mb=1) as running, httpx.Client(base_url=running.url) as c:
        r = c.post("/api/jobs", files=[("files", ("big.wav", big))])
        assert_error(r, 413, "file_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: refused while streaming
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=x.wav\r\n\r\n"
            for _ in range(40):
                yield b"\0" * 2**16

        headers = {"content-type": "multipart/form-data; boundary=b"}
        r = c.post("/api/jobs", content=chunked(), headers=headers)
        assert_error(r, 413, "file_too_large")
        assert c.get("/api/jobs").json()["jobs"] == []
        leftovers = list((tmp_path / "uploads").rglob("*"))
        assert [p for p in leftovers if p.is_file()] == []


def test_429_with_retry_after_when_the_queue_is_full(tmp_path: Path) -> None:
    with serve(tmp_path, max_queue=1) as running, httpx.Client(base_url=running.url) as c:
        r = c.post("/api/jobs", files=upload("speech.wav", "second_speech.wav"))
        error = assert_error(r, 429, "queue_full")
        assert "queue is full" in error["message"]
        assert int(r.headers["retry-after"]) > 0


# ---- auth ---------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_auth_basic_and_bearer_and_owners_only_see_their_jobs(tmp_path: Path) -> None:
    creds = Credentials.build(["alice:pw-a", "bob:pw-b"], api_keys={"key-a": "alice"})
    with serve(tmp_path, creds) as running, httpx.Client(base_url=running.url) as c:
        for path in ("/api/health", "/api/jobs", "/v1/models", "/api/resources"):
            r = c.get(path)
            assert_error(r, 401, "invalid_credentials")
            assert "Basic" in r.headers["www-authenticate"]
        assert_error(c.get("/api/jobs", headers=basic("alice", "wrong")), 401)
        assert_error(c.get("/api/jobs", headers={"Authorization": "Bearer nope"}), 401)
        assert_error(c.post("/api/jobs", files=upload("not_audio.mp3")), 401)

        alice = basic("alice", "pw-a")
        r = c.post("/api/jobs", files=upload("not_audio.mp3"), headers=alice)
        assert r.status_code == 202, r.text
        job = r.json()["jobs"][0]
        assert job["submitter"] == "alice"
        key = {"Authorization": "Bearer key-a"}
        assert c.get(f"/api/jobs/{job['id']}", headers=key).json()["id"] == job["id"]

        bob = basic("bob", "pw-b")
        assert c.get("/api/jobs", headers=bob).json()["jobs"] == []
        for method, path in [
            ("GET", f"/api/jobs/{job['id']}"),
            ("GET", f"/api/jobs/{job['id']}/events"),
            ("GET", f"/api/jobs/{job['id']}/transcript"),
            ("DELETE", f"/api/jobs/{job['id']}"),
            ("POST", f"/api/jobs/{job['id']}/retry"),
        ]:
            assert_error(c.request(method, path, headers=bob), 404, "job_not_found")
        assert c.post(f"/api/jobs/{job['id']}/retry", headers=key).status_code == 202


def test_purge_deletes_a_finished_job_and_its_files(
    api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (running,) = submit(api, "long_speech.mp3", beam_size="1")
    assert_error(api.delete(f"/api/jobs/{running['id']}", params={"purge": "true"}), 409)
    assert api.delete(f"/api/jobs/{running['id']}").status_code == 202  # cancel it instead
    (job,) = submit(api, "second_speech.wav", beam_size="1")
    assert wait_for(api, job["id"])["status"] == "completed"
    uploads_before = {p.parent.resolve() for p in Path(tmp_path_factory.getbasetemp()).glob(
        "api*/uploads/*/second_speech.wav"
    )}  # fmt: skip
    r = api.delete(f"/api/jobs/{job['id']}", params={"purge": "true"})
    assert r.status_code == 202 and r.json()["id"] == job["id"]
    assert_error(api.get(f"/api/jobs/{job['id']}"), 404)
    assert_error(api.get(f"/api/jobs/{job['id']}/transcript"), 404)
    uploads_after = {p.parent.resolve() for p in Path(tmp_path_factory.getbasetemp()).glob(
        "api*/uploads/*/second_speech.wav"
    )}  # fmt: skip
    assert len(uploads_after) == len(uploads_before) - 1, "its staged upload is removed"
    wait_for(api, running["id"])
