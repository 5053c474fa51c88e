"""The "Download all" zip: flat while names are distinct, one folder per batch when a
name repeats (the same recording sent twice, or two days' "interview.mp3")."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from whisper_ui.domain import Job, JobStatus, Segment, TranscribeOptions
from whisper_ui.export.files import write_zip
from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.ui.downloads import Downloads, zip_name

DAY = 1_796_300_000.0  # a fixed moment, so folder names are stable


def registry_with(*jobs: tuple[str, str, str, float]) -> JobRegistry:
    registry = JobRegistry()
    for job_id, name, batch, created in jobs:
        job = Job(job_id, f"/{name}", name, TranscribeOptions(), 3.0, batch_id=batch,
                  status=JobStatus.COMPLETED, created_at=created)  # fmt: skip
        registry.add(job, [Segment(0, 0.0, 1.0, f"words of {job_id}")])
    return registry


def names_in_zip(downloads: Downloads) -> list[str]:
    buffer = io.BytesIO()
    write_zip(downloads.finished("anonymous"), ["txt"], buffer)
    with zipfile.ZipFile(buffer) as archive:
        return sorted(archive.namelist())


def test_distinct_names_stay_flat(tmp_path: Path) -> None:
    downloads = Downloads(registry_with(("a", "talk.mp3", "b1", DAY), ("b", "notes.wav", "b2",
                                        DAY + 60)), tmp_path)  # fmt: skip
    assert names_in_zip(downloads) == ["notes.txt", "talk.txt"]


def test_a_repeated_name_puts_each_batch_in_its_own_folder(tmp_path: Path) -> None:
    registry = registry_with(
        ("a", "interview.mp3", "monday", DAY),
        ("b", "intro.wav", "monday", DAY + 1),
        ("c", "interview.mp3", "tuesday", DAY + 86400),
    )
    entries = names_in_zip(Downloads(registry, tmp_path))
    folders = sorted({e.split("/")[0] for e in entries})
    assert len(folders) == 2 and all(f.startswith("batch ") for f in folders), entries
    assert [e.split("/")[1] for e in entries] == ["interview.txt", "intro.txt", "interview.txt"]
    assert entries[0].startswith(folders[0] + "/")


def test_the_zip_is_named_for_its_day() -> None:
    assert zip_name(DAY).startswith("whisper-ui-20") and zip_name(DAY).endswith(".zip")


def test_the_link_counts_what_the_zip_holds_and_says_what_it_leaves_out(tmp_path: Path) -> None:
    registry = registry_with(("a", "talk.mp3", "b1", DAY), ("b", "notes.wav", "b1", DAY))
    silent = Job("c", "/silence.wav", "silence.wav", TranscribeOptions(), 3.0, batch_id="b1",
                 status=JobStatus.COMPLETED, created_at=DAY)  # fmt: skip
    registry.add(silent, [])
    downloads = Downloads(registry, tmp_path)
    link = downloads.zip_link("anonymous", registry.jobs(), ["txt"])
    assert "Download all (2 transcripts, zip)" in link and "1 without words left out" in link
    only_silent = JobRegistry()
    only_silent.add(silent, [])
    assert Downloads(only_silent, tmp_path).zip_link("anonymous", [silent], ["txt"]) == ""
