"""Nothing is lost across restarts: jobs and segments persist; running jobs resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import DATA, words
from whisper_ui.config import Settings
from whisper_ui.domain import (
    JobStatus,
    Segment,
    SegmentAdded,
    TranscribeOptions,
    TranscriptInfo,
    Upload,
)
from whisper_ui.jobs.store import JobStore
from whisper_ui.services import build_services

pytestmark = pytest.mark.integration


def test_store_round_trips_jobs_segments_and_info(tmp_path: Path) -> None:
    from whisper_ui.domain import Job, Word

    store = JobStore(tmp_path / "jobs.sqlite3")
    job = Job("a", "/x.wav", "naïve name.wav", TranscribeOptions(language="en"), 12.5)
    store.save_job(job)
    seg = Segment(0, 0.0, 2.0, " Hé there", (Word(0.0, 1.0, " Hé", 0.9),), -0.2, 0.01)
    store.add_segment("a", seg)
    store.set_info("a", TranscriptInfo("en", 0.99, 12.5))
    store.save_job(Job("b", "/y.wav", "y.wav", TranscribeOptions(), 3.0))
    store.save_job(job.__class__(**{**job.__dict__, "status": JobStatus.RUNNING}))
    store.close()

    loaded = JobStore(tmp_path / "jobs.sqlite3").load()
    assert [s.job.id for s in loaded] == ["a", "b"], "submission order survives updates"
    first = loaded[0]
    assert first.job.status is JobStatus.RUNNING and first.job.name == "naïve name.wav"
    assert first.job.options == TranscribeOptions(language="en")
    assert first.segments == (seg,)
    assert first.info == TranscriptInfo("en", 0.99, 12.5)


async def test_a_restart_resumes_running_jobs_and_keeps_finished_ones(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, concurrency=2)
    options = TranscribeOptions(beam_size=1)
    first = build_services(settings, persist=True)
    await first.start()
    short, long_job, bad = await first.dispatcher.submit(
        [
            Upload(str(DATA / "speech.wav"), "speech.wav"),
            Upload(str(DATA / "long_speech.mp3"), "long_speech.mp3"),
            Upload(str(DATA / "not_audio.mp3"), "not_audio.mp3"),
        ],
        options,
    )
    await asyncio.wait_for(first.dispatcher.wait(short.id), 60)
    seen = 0
    async for event in first.bus.subscribe(long_job.id):
        if isinstance(event, SegmentAdded):
            seen += 1
            if seen == 3:
                break
    # A clean stop interrupts the running job mid-file; it must come back, not be cancelled.
    await first.stop()
    saved = JobStore(tmp_path / "jobs.sqlite3").load()
    by_id = {s.job.id: s for s in saved}
    assert by_id[short.id].job.status is JobStatus.COMPLETED
    assert by_id[bad.id].job.status is JobStatus.FAILED
    assert len(by_id[long_job.id].segments) >= 3
    assert by_id[long_job.id].job.status is JobStatus.QUEUED

    second = build_services(settings, persist=True)
    await second.start()
    try:
        done = await asyncio.wait_for(second.dispatcher.wait(long_job.id), 120)
        assert done.status is JobStatus.COMPLETED
        transcript = second.registry.transcript(long_job.id)
        assert transcript is not None
        ids = [s.id for s in transcript.segments]
        assert ids == list(range(len(ids))), "segments continue, none duplicated"
        assert {"chapter", "ocean", "mountains", "railway"} <= words(transcript.text)
        # Finished jobs are listed again, with their transcripts and reasons.
        old_short = second.registry.get(short.id)
        assert old_short is not None and old_short.status is JobStatus.COMPLETED
        short_text = second.registry.transcript(short.id)
        assert short_text is not None and {"lazy", "weather"} <= words(short_text.text)
        old_bad = second.registry.get(bad.id)
        assert old_bad is not None and old_bad.error and "not_audio.mp3" in old_bad.error
        history = [e.kind for e in second.bus.history(short.id)]
        assert history[0] == "queued" and history[-1] == "completed"
    finally:
        await second.stop()


async def test_delete_and_retention_remove_a_job_and_its_files(tmp_path: Path) -> None:
    from whisper_ui.domain import JobStateError
    from whisper_ui.jobs.intake import stage_file

    settings = Settings(data_dir=tmp_path, concurrency=2, retention_days=7)
    svc = build_services(settings, persist=True)
    await svc.start()
    try:
        uploads = tmp_path / "uploads"
        staged = [stage_file(DATA / n, n, uploads) for n in ("speech.wav", "second_speech.wav")]
        keep, old = await svc.dispatcher.submit(staged, TranscribeOptions(beam_size=1))
        with pytest.raises(JobStateError):
            svc.delete_job(keep.id)  # still queued or running
        for job in (keep, old):
            await asyncio.wait_for(svc.dispatcher.wait(job.id), 60)
        exports = tmp_path / "exports" / old.id
        exports.mkdir(parents=True)
        (exports / "x.txt").write_text("x")
        svc.delete_job(old.id)
        assert not Path(old.path).exists() and not Path(old.path).parent.exists()
        assert not exports.exists()
        assert svc.registry.get(old.id) is None and svc.bus.history(old.id) == []
        assert [s.job.id for s in JobStore(tmp_path / "jobs.sqlite3").load()] == [keep.id]
        with pytest.raises(KeyError):
            svc.delete_job(old.id)
        # Retention: nothing is old yet; eight days later the finished job goes.
        assert svc.retention.sweep() == []
        finished = svc.registry.get(keep.id)
        assert finished is not None and finished.finished_at is not None
        assert svc.retention.sweep(now=finished.finished_at + 8 * 86400) == [keep.id]
        assert not Path(keep.path).exists()
    finally:
        await svc.stop()


class DiskFullFor(JobStore):
    """A JobStore whose disk is full, but only for one job's segments."""

    victim = ""

    def add_segment(self, job_id: str, segment: Segment) -> None:
        if job_id == self.victim:
            raise OSError(28, "No space left on device")
        super().add_segment(job_id, segment)


async def test_a_full_disk_fails_the_affected_job_only(tmp_path: Path) -> None:
    from whisper_ui.jobs.dispatcher import Dispatcher

    settings = Settings(data_dir=tmp_path, concurrency=2)
    svc = build_services(settings, persist=True)
    store = DiskFullFor(tmp_path / "full.sqlite3")
    dispatcher = Dispatcher(svc.pool, svc.queue, svc.bus, journal=store)
    svc.pool.start()
    dispatcher.start()
    try:
        victim, other = await dispatcher.submit(
            [Upload(str(DATA / "long_speech.mp3")), Upload(str(DATA / "second_speech.wav"))],
            TranscribeOptions(beam_size=1),
        )
        store.victim = victim.id
        failed = await asyncio.wait_for(dispatcher.wait(victim.id), 60)
        assert failed.status is JobStatus.FAILED
        assert failed.error == (
            "long_speech.mp3: could not save the job ([Errno 28] No space left on device)"
        )
        done = await asyncio.wait_for(dispatcher.wait(other.id), 60)
        assert done.status is JobStatus.COMPLETED, "the other job is not affected"
        (later,) = await dispatcher.submit([Upload(str(DATA / "speech.wav"))], TranscribeOptions())
        assert (await asyncio.wait_for(dispatcher.wait(later.id), 60)).status is (
            JobStatus.COMPLETED
        ), "and the dispatcher keeps serving"
    finally:
        await dispatcher.stop()
        await svc.pool.close()
        store.close()
        if svc.store is not None:
            svc.store.close()


async def test_a_model_that_fails_to_load_fails_its_jobs_only(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"\0" * 1024)
    (broken / "config.json").write_text("{}")
    svc = build_services(Settings(data_dir=tmp_path, concurrency=2))
    await svc.start()
    try:
        (bad,) = await svc.dispatcher.submit(
            [Upload(str(DATA / "speech.wav"))], TranscribeOptions(model=str(broken))
        )
        failed = await asyncio.wait_for(svc.dispatcher.wait(bad.id), 60)
        assert failed.status is JobStatus.FAILED
        assert failed.error is not None
        assert failed.error.startswith(f"speech.wav: model '{broken}' failed to load: ")
        (good,) = await svc.dispatcher.submit(
            [Upload(str(DATA / "second_speech.wav"))], TranscribeOptions()
        )
        assert (await asyncio.wait_for(svc.dispatcher.wait(good.id), 60)).status is (
            JobStatus.COMPLETED
        )
    finally:
        await svc.stop()
