"""The whole engine with the real tiny.en model: queue -> dispatcher -> pool -> transcriber."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import cancel_a_running_job_then_run_another, up, words
from whisper_ui.config import Settings
from whisper_ui.domain import (
    Completed,
    Failed,
    JobEvent,
    JobStatus,
    SegmentAdded,
    Started,
    TranscribeOptions,
)
from whisper_ui.options import OptionsError
from whisper_ui.services import Services, build_services

pytestmark = pytest.mark.integration


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    svc = build_services(Settings(data_dir=tmp_path, concurrency=2))
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def timeline(svc: Services, job_ids: list[str]) -> list[tuple[float, JobEvent]]:
    """Every event of the jobs with the time it arrived, merged in arrival order."""
    out: list[tuple[float, JobEvent]] = []

    async def follow(job_id: str) -> None:
        async for event in svc.bus.subscribe(job_id):
            out.append((time.monotonic(), event))

    await asyncio.wait_for(asyncio.gather(*(follow(j) for j in job_ids)), 120)
    return sorted(out, key=lambda pair: pair[0])


async def test_two_jobs_run_at_the_same_time_on_two_cores(services: Services) -> None:
    jobs = await services.dispatcher.submit(
        [up("long_speech.mp3"), up("second_speech.wav")], services.default_options()
    )
    events = [e for _, e in await timeline(services, [j.id for j in jobs])]
    kinds = [(e.kind, e.job_id) for e in events]
    first_done = next(i for i, (k, _) in enumerate(kinds) if k == "completed")
    started_before = {j for k, j in kinds[:first_done] if k == "started"}
    assert started_before == {jobs[0].id, jobs[1].id}, "both jobs must be running at once"
    # The short file finishes while the long one is still streaming segments.
    long_segments_after = [
        e for e in events[first_done:] if isinstance(e, SegmentAdded) and e.job_id == jobs[0].id
    ]
    assert long_segments_after, "the long job should still be decoding"
    texts = {e.job_id: e.transcript.text for e in events if isinstance(e, Completed)}
    assert {"ocean", "chapter"} <= words(texts[jobs[0].id])
    assert {"parked", "church"} <= words(texts[jobs[1].id])


async def test_segments_stream_before_the_job_completes(services: Services) -> None:
    (job,) = await services.dispatcher.submit([up("long_speech.mp3")], services.default_options())
    events = await timeline(services, [job.id])
    seg_times = [t for t, e in events if isinstance(e, SegmentAdded)]
    done_time = next(t for t, e in events if isinstance(e, Completed))
    assert len(seg_times) >= 4
    assert seg_times[0] < done_time - 1.0, "the first segment must arrive well before the end"
    ids = [e.segment.id for _, e in events if isinstance(e, SegmentAdded)]
    assert ids == list(range(len(ids)))


async def test_every_format_and_a_bad_file_fails_alone(services: Services) -> None:
    names = ["speech.mp3", "speech.m4a", "speech.ogg", "video.mp4", "not_audio.mp3", "corrupt.mp3"]
    jobs = await services.dispatcher.submit([up(n) for n in names], services.default_options())
    finished = await asyncio.wait_for(
        asyncio.gather(*(services.dispatcher.wait(j.id) for j in jobs)), 180
    )
    by_name = {j.name: j for j in finished}
    for name in ("speech.mp3", "speech.m4a", "speech.ogg"):
        assert by_name[name].status is JobStatus.COMPLETED
        text = services.registry.transcript(by_name[name].id)
        assert text is not None and {"lazy", "tuesday", "weather"} <= words(text.text)
    video = services.registry.transcript(by_name["video.mp4"].id)
    assert video is not None and {"garden", "cat"} <= words(video.text)
    for bad in ("not_audio.mp3", "corrupt.mp3"):
        job = by_name[bad]
        assert job.status is JobStatus.FAILED
        assert job.error is not None and job.error.startswith(f"{bad}: ")
        failed = [e for e in services.bus.history(job.id) if isinstance(e, Failed)]
        assert failed and failed[0].message == job.error


async def test_cancel_a_running_job_frees_its_slot(services: Services) -> None:
    await cancel_a_running_job_then_run_another(services)


async def test_options_that_cannot_work_are_refused_before_queueing(services: Services) -> None:
    with pytest.raises(OptionsError, match="English-only"):
        await services.dispatcher.submit(
            [up("speech.wav")], TranscribeOptions(model="tiny.en", task="translate")
        )
    with pytest.raises(OptionsError, match="English-only"):
        await services.dispatcher.submit(
            [up("speech.wav")], TranscribeOptions(model="tiny.en", language="de")
        )
    assert services.registry.jobs() == []


async def test_one_model_instance_serves_both_workers(services: Services) -> None:
    jobs = await services.dispatcher.submit(
        [up("speech.wav"), up("second_speech.wav")], services.default_options()
    )
    await asyncio.wait_for(asyncio.gather(*(services.dispatcher.wait(j.id) for j in jobs)), 60)
    snap = services.pool.snapshot()
    assert len(snap.instances) == 1
    assert snap.instances[0].workers == 2 and snap.instances[0].device == "cpu"
    started = [e for j in jobs for e in services.bus.history(j.id) if isinstance(e, Started)]
    assert {e.device for e in started} == {"cpu"}
