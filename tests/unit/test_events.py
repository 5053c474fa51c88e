"""EventBus: late subscribers get the whole history once, in order, then live events."""

from __future__ import annotations

import asyncio

from whisper_ui.domain import (
    Completed,
    JobEvent,
    Progress,
    Queued,
    Segment,
    SegmentAdded,
    Started,
    Transcript,
    TranscriptInfo,
)
from whisper_ui.jobs.events import EventBus


def seg(i: int) -> SegmentAdded:
    return SegmentAdded("j", Segment(i, i, i + 1, f"s{i}"))


async def collect(bus: EventBus, job_id: str) -> list[JobEvent]:
    return [e async for e in bus.subscribe(job_id)]


async def test_late_subscriber_gets_history_then_live_exactly_once() -> None:
    bus = EventBus()
    bus.publish(Queued("j"))
    bus.publish(Started("j", "cpu", "tiny.en"))
    bus.publish(seg(0))
    early = asyncio.create_task(collect(bus, "j"))
    await asyncio.sleep(0)
    bus.publish(seg(1))
    late = asyncio.create_task(collect(bus, "j"))  # joins mid-job
    await asyncio.sleep(0)
    bus.publish(seg(2))
    bus.publish(Progress("j", 0.5, 1.0))
    done = Completed("j", Transcript(TranscriptInfo("en", 1.0, 3.0)))
    bus.publish(done)
    bus.publish(seg(99))  # after the terminal event: nobody should see it
    first, second = await asyncio.wait_for(asyncio.gather(early, late), 2)
    assert first == second
    assert [e.segment.id for e in first if isinstance(e, SegmentAdded)] == [0, 1, 2]
    assert first[-1] is done


async def test_jobs_are_independent_and_subscribe_all_sees_everything() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def watch_all() -> None:
        async for event in bus.subscribe_all():
            seen.append(event.job_id)
            if len(seen) == 3:
                return

    watcher = asyncio.create_task(watch_all())
    await asyncio.sleep(0)
    bus.publish(Queued("a"))
    bus.publish(Queued("b"))
    bus.publish(Queued("a"))
    await asyncio.wait_for(watcher, 1)
    assert seen == ["a", "b", "a"]
    assert len(bus.history("a")) == 2 and len(bus.history("b")) == 1


async def test_forgetting_a_job_ends_its_subscribers() -> None:
    bus = EventBus()
    bus.publish(Queued("gone"))
    events = asyncio.create_task(collect(bus, "gone"))
    await asyncio.sleep(0)
    bus.forget("gone")
    assert await asyncio.wait_for(events, 1) == [Queued("gone")]
    assert bus.history("gone") == []
