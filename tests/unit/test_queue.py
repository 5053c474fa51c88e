"""JobQueue: fairness between submitters, schedules, bounds, removal, positions."""

from __future__ import annotations

import asyncio

import pytest

from whisper_ui.domain import Job, TranscribeOptions
from whisper_ui.jobs.queue import JobQueue, QueueFull


def job(job_id: str, submitter: str = "a", batch: str = "b1", duration: float = 10.0) -> Job:
    return Job(job_id, f"/tmp/{job_id}", job_id, TranscribeOptions(), duration, batch, submitter)


def drain(queue: JobQueue) -> list[str]:
    out = []
    while (j := queue.pop_nowait()) is not None:
        out.append(j.id)
    return out


def test_submitters_take_turns_so_a_big_upload_cannot_starve_a_small_one() -> None:
    q = JobQueue()
    for i in range(5):
        q.push(job(f"a{i}", "alice"))
    q.push(job("b0", "bob"))
    q.push(job("b1", "bob"))
    assert [j.id for j in q.order()] == ["a0", "b0", "a1", "b1", "a2", "a3", "a4"]
    assert drain(q) == ["a0", "b0", "a1", "b1", "a2", "a3", "a4"]


def test_batches_of_one_submitter_run_in_arrival_order() -> None:
    q = JobQueue()
    q.push(job("x1", batch="first"))
    q.push(job("y1", batch="second"))
    q.push(job("x2", batch="first"))
    assert drain(q) == ["x1", "x2", "y1"]


def test_shortest_schedule_orders_within_a_batch() -> None:
    q = JobQueue(schedule="shortest")
    q.push(job("long", duration=300))
    q.push(job("short", duration=5))
    q.push(job("mid", duration=60))
    assert drain(q) == ["short", "mid", "long"]


def test_requeued_jobs_go_first_and_ignore_the_bound() -> None:
    q = JobQueue(max_size=2)
    q.push(job("a"))
    q.push(job("b"))
    with pytest.raises(QueueFull) as info:
        q.push(job("c"))
    assert info.value.retry_after_s > 0
    q.push(job("oom"), front=True)
    assert len(q) == 3
    assert drain(q) == ["oom", "a", "b"]


def test_remove_and_position() -> None:
    q = JobQueue()
    for name in ("a", "b", "c"):
        q.push(job(name))
    assert q.position("c") == 2
    assert q.remove("b") is not None
    assert q.remove("b") is None
    assert q.position("c") == 1
    assert q.position("b") is None
    assert "c" in q and "b" not in q
    assert drain(q) == ["a", "c"]
    assert len(q) == 0


async def test_get_waits_for_a_job() -> None:
    q = JobQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.push(job("late"))
    assert (await asyncio.wait_for(getter, 1)).id == "late"
