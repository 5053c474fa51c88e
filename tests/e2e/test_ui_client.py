"""The web UI's events driven through Gradio's own client against `python app.py`.

This is what the browser does over the wire: upload, the streamed /transcribe event,
/cancel, /retry, /pick and the resources panel, with the real tiny.en model.
"""

from __future__ import annotations

import html
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.conftest import DATA, words
from tests.e2e.conftest import KEY_WORDS
from tests.ui_outputs import (
    DOWNLOADS,
    STATUS,
    ZIP,
    action,
    cards,
    job_ids,
    rows,
    selected,
    shown,
    status_of,
    transcript,
    transcript_note,
    value_of,
)

LONG = "long_speech.mp3"
OPTIONS = ("tiny.en", "auto", "transcribe", 5, False, False, "off", ["txt", "srt"])


@pytest.fixture
def new_client(server: str, tmp_path: Path) -> Iterator[Callable[[], Client]]:
    """Each call is a fresh client: a new Gradio session, so a separate owner of jobs."""
    made: list[Client] = []

    def make() -> Client:
        client = Client(
            server, analytics_enabled=False, verbose=False, download_files=str(tmp_path)
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def submit(client: Client, *names: str) -> Any:
    files = [handle_file(str(DATA / n)) for n in names]
    return client.submit(files, *OPTIONS, api_name="/transcribe")


def act(client: Client, job_id: str, verb: str) -> Any:
    """What a click on a file card (or one of its buttons) does: the last view."""
    return client.predict(action(job_id, verb), api_name="/act")


def collect(job: Any, until: Callable[[tuple[Any, ...]], bool] | None = None) -> list[Any]:
    """Every update the event streams, in order (stopping early once `until` holds)."""
    updates: list[Any] = []
    for update in job:
        updates.append(update)
        if until is not None and until(update):
            break
    return updates


@pytest.mark.timeout(90)
def test_transcribe_streams_live_then_offers_files_and_zip(
    new_client: Callable[[], Client], server: str, server_data: Path
) -> None:
    client = new_client()
    started = time.monotonic()
    updates = collect(submit(client, LONG, "speech.wav", "not_audio.mp3"))
    elapsed = time.monotonic() - started
    assert len(updates) >= 3, updates

    # The bad file is turned away at once, with its reason, and the others go on.
    first = updates[0]
    assert "Queued 2 files" in shown(first[STATUS])
    assert "not_audio.mp3" in shown(first[STATUS])
    assert status_of(first, "not_audio.mp3").startswith("failed: not a recognised audio")
    ids = job_ids(first)
    assert set(ids) == {LONG, "speech.wav", "not_audio.mp3"}

    # Streaming: while the long file's row still says running, its transcript box
    # already holds its first segments.
    live = [
        u
        for u in updates[:-1]
        if status_of(u, LONG).startswith("running")
        and selected(u) == ids[LONG]
        and words(transcript(u)) & {"chapter", "ocean", "planet"}
    ]
    assert live, [(status_of(u, LONG), transcript(u)[:80]) for u in updates]
    partial = transcript(live[0])
    assert partial.startswith("00:00.0 ")

    final = updates[-1]
    assert status_of(final, LONG) == "completed"
    assert status_of(final, "speech.wav") == "completed"
    assert status_of(final, "not_audio.mp3").startswith("failed: not a recognised audio")
    assert len(transcript(final)) > len(partial)
    assert KEY_WORDS[LONG] <= words(transcript(final))
    # Failed is red, completed green: the card's colour class says which.
    kinds = {c["name"]: c["kind"] for c in cards(final)}
    assert kinds == {LONG: "completed", "speech.wav": "completed", "not_audio.mp3": "failed"}
    assert elapsed < 60

    # The selected (long) file's downloads: one file per chosen format.
    downloads = [Path(p) for p in value_of(final[DOWNLOADS])]
    assert sorted(p.name for p in downloads) == ["long_speech.srt", "long_speech.txt"]
    for path in downloads:
        assert KEY_WORDS[LONG] <= words(path.read_text(encoding="utf-8"))
    srt = next(p for p in downloads if p.suffix == ".srt").read_text(encoding="utf-8")
    assert "-->" in srt

    # Clicking the other file's card opens its transcript and its files.
    opened = act(client, ids["speech.wav"], "open")
    assert selected(opened) == ids["speech.wav"]
    assert KEY_WORDS["speech.wav"] <= words(transcript(opened))
    files = value_of(opened[DOWNLOADS])
    assert sorted(Path(p).name for p in files) == ["speech.srt", "speech.txt"]
    for path in files:
        assert KEY_WORDS["speech.wav"] <= words(Path(path).read_text(encoding="utf-8"))

    # "Download all": a link to a zip of both finished files in both formats, built
    # when it is followed; nothing is written for it on the server's disk.
    link = re.search(r'href="([^"]+)"', str(value_of(final[ZIP])))
    assert link, final[ZIP]
    assert "2 transcripts, zip" in str(value_of(final[ZIP]))
    url = server + html.unescape(link.group(1))
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert re.search(
        r'filename="whisper-ui-\d{4}-\d\d-\d\d\.zip"', response.headers["content-disposition"]
    ), response.headers["content-disposition"]
    assert not list(server_data.rglob("*.zip")), "no zip is kept on disk"
    token_url = url.split("?", 1)[0]
    forged = token_url.replace("/downloads/", "/downloads/x", 1)
    assert httpx.get(forged, timeout=10).status_code == 404
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == [
            "long_speech.srt", "long_speech.txt", "speech.srt", "speech.txt",
        ]  # fmt: skip
        for stem, name in (("long_speech", LONG), ("speech", "speech.wav")):
            for ext in ("txt", "srt"):
                text = archive.read(f"{stem}.{ext}").decode("utf-8")
                assert KEY_WORDS[name] <= words(text), (stem, ext, text)


@pytest.mark.timeout(90)
def test_cancel_a_running_job_then_retry_it_in_its_place(
    new_client: Callable[[], Client],
) -> None:
    client = new_client()

    def long_is_running(update: tuple[Any, ...]) -> bool:
        """Running, with some text decoded already (so a cancel leaves a partial)."""
        return status_of(update, LONG).startswith("running") and bool(transcript(update))

    job = submit(client, LONG, "not_audio.mp3")
    updates = collect(job, until=long_is_running)
    assert long_is_running(updates[-1]), [rows(u) for u in updates]
    ids = job_ids(updates[0])
    offered = {c["name"]: c["actions"] for c in cards(updates[-1])}
    # A running file can be cancelled; a file that is not audio cannot be retried.
    assert offered[LONG] == ["cancel"], offered
    assert offered["not_audio.mp3"] == ["delete"], offered

    cancelled = act(client, ids[LONG], "cancel")
    assert "Cancelled long_speech.mp3" in shown(cancelled[STATUS])
    rest = collect(job)  # the stream ends once nothing of ours is active
    final = rest[-1] if rest else client.predict(api_name="/watch")
    assert status_of(final, LONG) == "cancelled"
    assert {c["name"]: c["actions"] for c in cards(final)}[LONG] == ["retry", "delete"]
    # The text decoded before the cancel stays readable, and downloadable.
    opened = act(client, ids[LONG], "open")
    assert "Cancelled" in transcript_note(opened)
    partial_files = [Path(p) for p in value_of(opened[DOWNLOADS])]
    assert sorted(p.suffix for p in partial_files) == [".srt", ".txt"]
    assert words(next(p for p in partial_files if p.suffix == ".txt").read_text()) & {
        "chapter", "ocean", "planet",
    }  # fmt: skip

    # Retrying the cancelled one runs it again to the end, in the same place in the list.
    retried = collect(client.submit(action(ids[LONG], "retry"), api_name="/act"))
    assert "Retrying long_speech.mp3" in shown(retried[0][STATUS])
    last = retried[-1]
    assert [r[0] for r in rows(last)] == [LONG, "not_audio.mp3"], rows(last)
    assert status_of(last, LONG) == "completed"
    new_id = job_ids(last)[LONG]
    assert new_id != ids[LONG] and selected(last) == new_id
    assert KEY_WORDS[LONG] <= words(transcript(last))

    # A finished job cannot be cancelled, and a completed one cannot be retried.
    done = act(client, new_id, "cancel")
    assert "is finished" in shown(done[STATUS])
    again = act(client, new_id, "retry")
    assert "only a failed or cancelled job can be retried" in shown(again[STATUS])


@pytest.mark.timeout(60)
def test_two_sessions_see_only_their_own_jobs(new_client: Callable[[], Client]) -> None:
    alice, bob = new_client(), new_client()
    alice_job = submit(alice, "speech.wav")
    bob_job = submit(bob, "second_speech.wav")
    alice_final = collect(alice_job)[-1]
    bob_final = collect(bob_job)[-1]

    assert [r[0] for r in rows(alice_final)] == ["speech.wav"]
    assert [r[0] for r in rows(bob_final)] == ["second_speech.wav"]
    assert KEY_WORDS["speech.wav"] <= words(transcript(alice_final))
    assert KEY_WORDS["second_speech.wav"] <= words(transcript(bob_final))
    assert not words(transcript(bob_final)) & {"tuesday", "weather"}
    # Bob's clicks on alice's job are as if it were not there.
    alice_id = job_ids(alice_final)["speech.wav"]
    for verb in ("open", "delete", "cancel", "retry"):
        assert "no longer in the list" in shown(act(bob, alice_id, verb)[STATUS])
    assert [r[0] for r in rows(alice.predict(api_name="/watch"))] == ["speech.wav"]

    # What a page load shows each of them (/watch) is still only their own.
    assert [r[0] for r in rows(alice.predict(api_name="/watch"))] == ["speech.wav"]
    assert [r[0] for r in rows(bob.predict(api_name="/watch"))] == ["second_speech.wav"]
    # A third, new session has no jobs at all.
    assert rows(new_client().predict(api_name="/watch")) == []


@pytest.mark.timeout(30)
def test_resources_panel_lists_the_cpu(new_client: Callable[[], Client]) -> None:
    text = new_client().predict(api_name="/resources")
    assert "**No GPU found:** transcribing on" in text and "CPU core" in text
    assert "NVML" not in text and "**Now:**" in text


def test_delete_removes_a_finished_job_from_the_list(new_client: Callable[[], Client]) -> None:
    client = new_client()
    *_, last = list(submit(client, "second_speech.wav"))
    assert status_of(last, "second_speech.wav") == "completed"
    job_id = job_ids(last)["second_speech.wav"]
    after = act(client, job_id, "delete")
    assert "Deleted second_speech.wav" in shown(after[STATUS])
    assert rows(after) == []
    assert job_ids(after) == {}


@pytest.mark.timeout(120)
def test_batches_are_grouped_and_a_finished_batch_deletes_at_once(
    new_client: Callable[[], Client],
) -> None:
    """Issue 14, item 4: the list groups a person's batches; "Delete batch" removes one."""
    import json

    from tests.ui_outputs import QUEUE, prop

    client = new_client()
    collect(submit(client, "speech.wav", "second_speech.wav"))
    final = collect(submit(client, "second_speech.wav"))[-1]
    page = prop(final[QUEUE], "cards")
    groups = re.findall(r'<li class="group" data-batch="([^"]+)" data-label="([^"]+)"', page)
    assert len(groups) == 2, page
    assert all(re.match(r"Today \d\d:\d\d · [12] files?$", html.unescape(g[1])) for g in groups)
    first_batch = groups[0][0]
    after = client.predict(
        json.dumps({"batch": first_batch, "action": "delete-batch"}), api_name="/act"
    )
    assert "Deleted a batch of 2 files" in shown(after[STATUS])
    assert [c["name"] for c in cards(after)] == ["second_speech.wav"]
    assert 'class="group"' not in prop(after[QUEUE], "cards")  # one batch left: no header
