"""Files on disk, as an attacker and a careless client reach them (issue 11, items 6, 8):
every file route checks the owner, half-received uploads do not pile up, and a form
cannot make the server keep unbounded fields.
"""

from __future__ import annotations

import html
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.conftest import DATA, in_process_api, wait_until
from tests.server import Server, running_server, start_server, stop_server
from tests.ui_outputs import DOWNLOADS, TRANSCRIPT, ZIP, prop, value_of
from whisper_ui.config import Settings
from whisper_ui.jobs.retention import PARTIAL_IDLE_S, Retention

pytestmark = pytest.mark.integration
ALICE, BOB = ("alice", "Al1ce-files"), ("bob", "B0b-files")
# Inputs of the page's /transcribe: files, model, language, task, beam, vad, words, formats.
OPTIONS = ("tiny.en", "auto", "transcribe", 1, False, False, "off", ["txt", "srt"])


@contextmanager
def logged_in(url: str, user: tuple[str, str]) -> Iterator[httpx.Client]:
    """A client holding the page's login cookie, as a browser that logged in does."""
    with httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/login", files={"username": (None, user[0]), "password": (None, user[1])})
        assert r.status_code == 200, r.text
        yield http


@pytest.fixture(scope="module", params=["own cache", "GRADIO_TEMP_DIR elsewhere"])
def alices_files(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Alices]:
    """A server with two users where alice has transcribed speech.wav through the page
    (Gradio's client: upload, /transcribe); yields the server, her zip link and Gradio's
    cache dir (the data dir's own, or one GRADIO_TEMP_DIR points at outside it)."""
    data = tmp_path_factory.mktemp("files")
    cache = data / "gradio-tmp"
    env = {}
    if request.param != "own cache":
        cache = tmp_path_factory.mktemp("elsewhere")
        env["GRADIO_TEMP_DIR"] = str(cache)
    logins = ("--auth", ":".join(ALICE), "--auth", ":".join(BOB))
    with running_server(data, *logins, env=env) as server:
        client = Client(
            server.url, auth=ALICE, analytics_enabled=False, verbose=False,
            download_files=str(tmp_path_factory.mktemp("alice-downloads")),
        )  # fmt: skip
        try:
            job = client.submit(
                [handle_file(str(DATA / "speech.wav"))], *OPTIONS, api_name="/transcribe"
            )
            final = list(job)[-1]
            # Her own downloads came back through the guarded file route.
            files = value_of(final[DOWNLOADS])
            assert [Path(p).suffix for p in files] == [".txt", ".srt"], final[DOWNLOADS]
            assert all(Path(p).read_text() for p in files)
        finally:
            client.close()
        link = re.search(r'href="([^"]+)"', str(value_of(final[ZIP])))
        assert link, final[ZIP]
        media = re.search(r'data-media="([^"]+)"', prop(final[TRANSCRIPT], "body"))
        assert media, final[TRANSCRIPT]
        yield Alices(server, html.unescape(link.group(1)), cache, html.unescape(media.group(1)))


@dataclass(frozen=True)
class Alices:
    """The server, alice's zip link, Gradio's cache dir, the player's link to her file."""

    server: Server
    zip_link: str
    cache: Path
    media_link: str


def served_files(server: Server, cache: Path) -> list[Path]:
    data = server.log.parent
    found = [
        p
        for folder in (cache, data / "exports", data / "uploads")
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith("tmp")
    ]
    kinds = {"cache" if p.is_relative_to(cache) else p.relative_to(data).parts[0] for p in found}
    assert kinds == {"cache", "exports", "uploads"}, found
    return found


def test_another_user_gets_none_of_alices_files(alices_files: Alices) -> None:
    server, zip_link, cache = alices_files.server, alices_files.zip_link, alices_files.cache
    with logged_in(server.url, BOB) as bob:
        for path in served_files(server, cache):
            r = bob.get(f"/gradio_api/file={path}")
            assert r.status_code == 404, (path, r.status_code)
            # A relative spelling of the same path is the same file.
            relative = os.path.relpath(path, Path.cwd())
            assert bob.get(f"/gradio_api/file={relative}").status_code == 404, relative
        assert bob.get(zip_link).status_code == 404


def test_alice_gets_her_own_files(alices_files: Alices) -> None:
    server, zip_link, cache = alices_files.server, alices_files.zip_link, alices_files.cache
    data = server.log.parent
    with logged_in(server.url, ALICE) as alice:
        cached = [p for p in served_files(server, cache) if p.is_relative_to(cache)]
        assert {p.suffix for p in cached} == {".wav", ".txt", ".srt"}, cached
        for path in [*cached, *(data / "exports").rglob("*.txt")]:
            r = alice.get(f"/gradio_api/file={path}")
            assert r.status_code == 200, (path, r.status_code)
            assert r.content == path.read_bytes()
        # The staged copy of her upload is the server's, never served to anyone.
        staged = next((data / "uploads").rglob("speech.wav"))
        assert alice.get(f"/gradio_api/file={staged}").status_code == 404
        r = alice.get(zip_link)
        assert r.status_code == 200 and r.content[:2] == b"PK"
    # Without the login cookie the link alone is not enough.
    assert httpx.get(server.url + zip_link).status_code == 404


def test_the_players_recording_is_alices_only_and_answers_ranges(alices_files: Alices) -> None:
    """Issue 14, item 1: the page's player streams the upload from this server; seeking
    asks for a byte range (206), and the link is no use to anyone but alice."""
    server, link = alices_files.server, alices_files.media_link
    original = (DATA / "speech.wav").read_bytes()
    with logged_in(server.url, ALICE) as alice:
        whole = alice.get(link)
        assert whole.status_code == 200 and whole.content == original
        assert whole.headers["content-type"].startswith("audio/")
        assert whole.headers["content-disposition"].startswith("inline")
        assert whole.headers["accept-ranges"] == "bytes"
        part = alice.get(link, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == original[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(original)}"
        token, _, job_id = link.removeprefix("/downloads/").partition("/media/")
        assert alice.get(f"/downloads/{token}/media/{job_id[:-1]}x").status_code == 404
    with logged_in(server.url, BOB) as bob:
        assert bob.get(link).status_code == 404
    assert httpx.get(server.url + link).status_code == 404  # no login cookie


def half_upload(port: int, cookie: str, *, send_mb: int = 4) -> None:
    """Start a multipart upload to Gradio's /upload, send `send_mb` of a declared 8 MB,
    then hang up, as a client that crashed or lost its network would."""
    boundary = "x" * 24
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            (
                f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\nContent-Length: {8 << 20}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
            ).encode()
            + head
        )
        chunk = b"\0" * (1 << 20)
        for _ in range(send_mb):
            sock.sendall(chunk)


def partials(data: Path) -> list[Path]:
    return [p for p in (data / "gradio-tmp").glob("tmp*") if p.is_file() and p.stat().st_size]


def test_a_half_received_upload_is_swept_after_kill_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--auth", ":".join(ALICE))
    try:
        with logged_in(server.url, ALICE) as alice:
            cookie = "; ".join(f"{c.name}={c.value}" for c in alice.cookies.jar)
        half_upload(server.port, cookie)
        wait_until(
            lambda: any(p.stat().st_size >= 1 << 20 for p in partials(data)),
            30, "a MB of the half upload reaching the disk",
        )  # fmt: skip
    finally:
        stop_server(server, kill=True)
    assert partials(data), "kill -9 should leave the partial file behind"
    with running_server(data, "--auth", ":".join(ALICE)):
        assert partials(data) == []


def test_partial_uploads_are_swept_once_idle_and_finished_ones_are_kept(tmp_path: Path) -> None:
    clock = [time.time()]
    retention = Retention(None, tmp_path, 30, clock=lambda: clock[0])  # type: ignore[arg-type]
    (tmp_path / "gradio-tmp" / "abc123").mkdir(parents=True)
    (tmp_path / "uploads").mkdir()
    done = tmp_path / "gradio-tmp" / "abc123" / "talk.wav"  # a finished Gradio upload
    arriving = tmp_path / "gradio-tmp" / "tmpLIVE"
    dead = [tmp_path / "gradio-tmp" / "tmpDEAD", tmp_path / "uploads" / ".incoming-DEAD"]
    for path in (done, arriving, *dead):
        path.write_bytes(b"\0" * 1000)
    for path in (done, *dead):
        os.utime(path, (clock[0] - PARTIAL_IDLE_S - 1,) * 2)
    assert sorted(retention.drop_partial_uploads_sync(PARTIAL_IDLE_S)) == sorted(dead)
    assert done.exists() and arriving.exists()
    assert retention.drop_partial_uploads_sync(0) == [arriving]  # at start: all of them


def multipart(fields: list[tuple[str, str]], audio: bytes) -> tuple[bytes, dict[str, str]]:
    """A body with every field as its own part (repeats included) and one file."""
    boundary = "b0undary42"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        'filename="speech.wav"\r\n\r\n'
    )
    body = "".join(parts).encode() + head.encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_a_form_cannot_make_the_server_keep_unbounded_fields(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, concurrency=1)
    audio = (DATA / "speech.wav").read_bytes()
    async with in_process_api(settings) as (http, _):
        body, headers = multipart([("beam_size", "1")] * 1001, audio)
        r = await http.post("/api/jobs", content=body, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "too_many_fields"
        body, headers = multipart([(f"f{n}", "x" * 60_000) for n in range(20)], audio)
        r = await http.post("/api/jobs", content=body, headers=headers)  # 1.2 MB of text
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "fields_too_long"
        assert not list((tmp_path / "uploads").glob(".incoming-*"))
        body, headers = multipart([("beam_size", "1")] * 10, audio)
        ok = await http.post("/api/jobs", content=body, headers=headers)
        assert ok.status_code == 202, ok.text
