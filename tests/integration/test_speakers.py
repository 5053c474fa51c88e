"""Speakers through the real services, model and HTTP API (issue 13).

interview.mp3 is two espeak-ng voices taking turns (interview.tsv is the script);
voice_a.mp3 / voice_b.mp3 are other sentences in the same voices, used as reference
clips that name the speakers.
"""

from __future__ import annotations

import base64
import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, in_process_api
from tests.integration.test_damaged_input import finished
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings

pytestmark = pytest.mark.integration


def script() -> list[tuple[float, float, int]]:
    with (DATA / "interview.tsv").open() as f:
        return [
            (float(r["start"]), float(r["end"]), int(r["voice"]))
            for r in csv.DictReader(f, delimiter="\t")
        ]


def data_url(name: str) -> str:
    return "data:audio/mpeg;base64," + base64.b64encode((DATA / name).read_bytes()).decode()


def speaker_of(segments: list[dict[str, Any]], start: float, end: float) -> str | None:
    mid = (start + end) / 2
    inside = [
        s for s in segments if s["start"] - 0.3 <= mid <= s["end"] + 0.3 and s["text"].strip()
    ]
    return inside[0]["speaker"] if inside else None


def one_second(tmp_path: Path) -> bytes:
    out = tmp_path / "one_second.wav"
    subprocess.run(["sox", str(DATA / "speech.wav"), str(out), "trim", "0.3", "1.0"], check=True)
    return out.read_bytes()


async def submit(client: Any, files: dict[str, bytes], **fields: Any) -> dict[str, str]:
    parts = [("files", (n, b, "audio/mpeg")) for n, b in files.items()]
    r = await client.post("/api/jobs", files=parts, data=fields)
    assert r.status_code == 202, r.text
    return {j["name"]: j["id"] for j in r.json()["jobs"]}


async def test_two_voices_one_voice_and_silence(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", concurrency=2)
    files = {
        "interview.mp3": (DATA / "interview.mp3").read_bytes(),
        "speech.wav": (DATA / "speech.wav").read_bytes(),
        "silence.wav": (DATA / "silence.wav").read_bytes(),
        "one_second.wav": one_second(tmp_path),
    }
    async with in_process_api(settings) as (client, _services):
        ids = await submit(client, files, speakers="auto", word_timestamps="true")
        jobs = {name: await finished(client, job_id, 240) for name, job_id in ids.items()}
        exports = {
            fmt: (
                await client.get(
                    f"/api/jobs/{ids['interview.mp3']}/transcript", params={"format": fmt}
                )
            ).text
            for fmt in ("txt", "srt", "vtt", "json", "tsv")
        }
        events = (await client.get(f"/api/jobs/{ids['interview.mp3']}/events")).text
    for name, body in jobs.items():
        assert body["status"] == "completed", (name, body)

    data = json.loads(exports["json"])
    names = [s["name"] for s in data["speakers"]]
    assert names == ["Speaker 1", "Speaker 2"]
    turns = script()
    label = {v: speaker_of(data["segments"], s, e) for s, e, v in turns[:2]}
    assert label[0] != label[1] and None not in label.values()
    for start, end, voice in turns:  # every line of the script is its voice's
        assert speaker_of(data["segments"], start, end) == label[voice], (start, end)
    for segment in data["segments"]:  # words carry the speaker of their segment
        assert all(w["speaker"] == segment["speaker"] for w in segment.get("words", ()))
    assert all(s["talk_time"] > 4 for s in data["speakers"])
    # a change of speaker inside a segment was split: no segment spans two script turns
    for segment in data["segments"]:
        voices = {v for s, e, v in turns if s < segment["end"] - 0.3 and e > segment["start"] + 0.3}
        assert len(voices) <= 1, segment

    assert exports["txt"].startswith("[Speaker 1] ") and "\n[Speaker 2] " in exports["txt"]
    assert exports["txt"].count("[Speaker") == 6  # a label on each change, not each line
    assert "[Speaker 2] " in exports["srt"] and "<v Speaker 2>" in exports["vtt"]
    assert (
        exports["tsv"].startswith("start\tend\ttext\tspeaker\n")
        and "\tSpeaker 2\n" in exports["tsv"]
    )
    assert "event: speakers" in events and '"stage":"speakers"' in events, events[-3000:]

    one = jobs["speech.wav"]
    assert not [w for w in one["warnings"] if "speaker" in w]
    assert "speakers: too short to tell speakers apart" in jobs["one_second.wav"]["warnings"]
    assert jobs["silence.wav"]["error"] is None


async def test_known_speakers_name_the_voices_and_a_bad_clip_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    audio = {"interview.mp3": (DATA / "interview.mp3").read_bytes()}
    async with in_process_api(settings) as (client, services):
        bad = await client.post(
            "/api/jobs",
            files=[("files", ("interview.mp3", audio["interview.mp3"], "audio/mpeg"))],
            data={
                "known_speaker_names[]": ["Ann", "Ben"],
                "known_speaker_references[]": [data_url("voice_a.mp3"), data_url("not_audio.mp3")],
            },
        )
        assert bad.status_code == 400, bad.text
        assert "known_speaker_references[1]" in bad.json()["error"]["message"]
        assert not services.registry.jobs()  # nothing queued

        ids = await submit(
            client,
            audio,
            **{
                "known_speaker_names[]": ["Ann", "Ben"],
                "known_speaker_references[]": [data_url("voice_a.mp3"), data_url("voice_b.mp3")],
            },
        )
        body = await finished(client, ids["interview.mp3"], 240)
        text = (
            await client.get(f"/api/jobs/{body['id']}/transcript", params={"format": "txt"})
        ).text
    assert body["status"] == "completed", body
    assert text.startswith("[Ann] ") and "\n[Ben] " in text and "Speaker" not in text


async def test_a_saved_voice_names_that_speaker_in_later_files_of_its_owner_only(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    interview = (DATA / "interview.mp3").read_bytes()
    people = Credentials.build(["ann:pw-ann-1", "bob:pw-bob-1"])
    async with in_process_api(settings, people) as (client, _services):
        ann, bob = ("ann", "pw-ann-1"), ("bob", "pw-bob-1")
        clip = {"file": ("b.mp3", (DATA / "voice_b.mp3").read_bytes(), "audio/mpeg")}
        bad = await client.post(
            "/api/voices",
            data={"name": "Host"},
            files={"file": ("x.mp3", b"not audio", "audio/mpeg")},
            auth=ann,
        )
        assert bad.status_code == 400 and "Host" in bad.json()["error"]["message"], bad.text
        r = await client.post("/api/voices", data={"name": "Guest <b>"}, files=clip, auth=ann)
        assert r.status_code == 200, r.text
        assert [v["name"] for v in r.json()["voices"]] == ["Guest <b>"]
        assert (await client.get("/api/voices", auth=bob)).json()["voices"] == []

        texts = {}
        for who in (ann, bob):
            r = await client.post(
                "/api/jobs", files=[("files", ("i.mp3", interview, "audio/mpeg"))],
                data={"speakers": "auto"}, auth=who,
            )  # fmt: skip
            assert r.status_code == 202, r.text
            job = r.json()["jobs"][0]["id"]
            client.auth = who  # finished() polls without auth= of its own
            body = await finished(client, job, 240)
            assert body["status"] == "completed", body
            t = await client.get(f"/api/jobs/{job}/transcript", params={"format": "txt"}, auth=who)
            texts[who[0]] = t.text
        assert "[Guest <b>] " in texts["ann"] and "[Speaker 1] " in texts["ann"]
        assert "Guest" not in texts["bob"]  # another person's voice is never used
        gone = await client.delete("/api/voices/Guest <b>", auth=ann)
        assert gone.status_code == 200 and gone.json()["voices"] == []


async def test_a_segment_given_to_another_speaker_and_renames_reach_the_exports(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with in_process_api(settings) as (client, _services):
        ids = await submit(client, {"i.mp3": (DATA / "interview.mp3").read_bytes()}, speakers="2")
        job = ids["i.mp3"]
        assert (await finished(client, job, 240))["status"] == "completed"
        base = f"/api/jobs/{job}"
        r = await client.put(f"{base}/speakers", json={"speaker": "Speaker 1", "name": "Ann"})
        assert r.status_code == 200, r.text
        assert [s["name"] for s in r.json()["speakers"]] == ["Ann", "Speaker 2"]
        segments = (await client.get(f"{base}/segments")).json()["segments"]
        first, second = segments[0]["id"], segments[1]["id"]
        assert (segments[0]["speaker"], segments[1]["speaker"]) == ("Ann", "Speaker 2")
        # one segment to the other voice, another to Ann by her name
        r = await client.patch(f"{base}/segments/{first}", json={"speaker": "Speaker 2"})
        assert r.status_code == 200 and r.json()["speaker"] == "Speaker 2", r.text
        r = await client.patch(f"{base}/segments/{second}", json={"speaker": "Ann"})
        assert r.status_code == 200 and r.json()["speaker"] == "Ann", r.text
        bad = await client.patch(f"{base}/segments/{first}", json={"speaker": "  "})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_speaker"
        missing = await client.put(f"{base}/speakers", json={"speaker": "Nobody", "name": "X"})
        assert missing.status_code == 400 and "Nobody" in missing.text
        # renaming Ann again reaches the segment that was given to her
        await client.put(f"{base}/speakers", json={"speaker": "Ann", "name": "Anna"})
        txt = (await client.get(f"{base}/transcript", params={"format": "txt"})).text
        vtt = (await client.get(f"{base}/transcript", params={"format": "vtt"})).text
    lines = txt.splitlines()
    assert lines[0].startswith("[Speaker 2] ") and lines[1].startswith("[Anna] "), txt
    assert "Ann]" not in txt and "<v Anna>" in vtt
