"""Dispatcher: lifecycle, events, failures, OOM requeue, cancel, concurrency and fairness.

Unit level: probing is real (the committed files in tests/data), the model is not.
The pool is a fake with N slots that records grants, releases and OOM reports; the
worker is a fake that runs in the dispatcher's worker thread, emits events through
`emit`, honours `should_cancel()` and raises on demand. Every await on the
dispatcher is bounded, so a broken dispatcher fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from whisper_ui import audio
from whisper_ui.domain import (
    Cancelled,
    Completed,
    Failed,
    InfoReady,
    Job,
    JobEvent,
    JobStatus,
    Progress,
    Queued,
    Resume,
    Segment,
    SegmentAdded,
    Started,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    Upload,
)
from whisper_ui.engine.errors import ModelLoadError, PoolError, TranscriptionCancelled
from whisper_ui.engine.pool import InstanceKey, Lease, ModelSpec
from whisper_ui.engine.resources import DeviceInfo
from whisper_ui.jobs.dispatcher import Dispatcher
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue, QueueFull
from whisper_ui.options import OptionsError

DATA = Path(__file__).resolve().parents[1] / "data"
SPEECH = DATA / "speech.wav"
SECOND = DATA / "second_speech.wav"
NOT_AUDIO = DATA / "not_audio.mp3"
EMPTY = DATA / "empty.wav"
OPTIONS = TranscribeOptions(model="tiny.en")
OOM_TEXT = "CUDA failed with error out of memory"
TIMEOUT = 2.0  # seconds for any single await on the dispatcher
GiB = 2**30


def cpu_device() -> DeviceInfo:
    return DeviceInfo("cpu", 0, "Test CPU", 16 * GiB, 8 * GiB, physical_cores=4, logical_cores=4)


# ---- fakes ---------------------------------------------------------------------------


class FakePool:
    """N slots; records every grant, release and OOM report.

    `fail_on_enter` errors are raised, in order, by the next lease attempts (as the real
    pool raises PoolError / ModelLoadError). `on_grant` runs inside the lease right after
    a slot is taken, before the lease is handed over.
    """

    def __init__(self, slots: int = 1, *, device: str = "cpu") -> None:
        self.slots = slots
        self.device = device
        self._sem = asyncio.Semaphore(slots)
        self.grants = 0
        self.releases = 0
        self.busy = 0
        self.max_busy = 0
        self.waiting = 0
        self.requests: list[ModelSpec] = []
        self.oom_reports: list[Lease] = []
        self.fail_on_enter: list[BaseException] = []
        self.on_grant: Callable[[], None] | None = None

    async def reserve(self, spec: ModelSpec) -> FakeReservation:
        self.requests.append(spec)
        if self.fail_on_enter:
            raise self.fail_on_enter.pop(0)
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.grants += 1
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)
        return FakeReservation(spec)

    @contextlib.asynccontextmanager
    async def use(self, reservation: FakeReservation) -> AsyncIterator[Lease]:
        try:
            if self.on_grant is not None:
                self.on_grant()
            yield Lease(
                model=object(),
                key=InstanceKey(reservation.spec.model, self.device, "int8"),
                device=cpu_device(),
                cpu_threads=1,
            )
        finally:
            await self.release(reservation)

    async def release(self, reservation: FakeReservation) -> None:
        if not reservation.released:
            reservation.released = True
            self.busy -= 1
            self.releases += 1
            self._sem.release()

    def report_oom(self, lease: Lease) -> int:
        self.oom_reports.append(lease)
        return max(1, self.busy - 1)


@dataclass(eq=False)
class FakeReservation:
    spec: ModelSpec
    released: bool = False


def segment(seg_id: int, *, offset: float = 0.0) -> Segment:
    start = offset + seg_id * 1.0
    return Segment(id=seg_id, start=start, end=start + 1.0, text=f" word{seg_id}")


@dataclass
class Call:
    job_id: str
    name: str
    resume: Resume
    attempt: int


@dataclass
class FakeWorker:
    """A scripted stand-in for the transcriber; runs in the dispatcher's worker thread.

    Per attempt it emits InfoReady, then `segments` x (SegmentAdded, Progress), checking
    `should_cancel()` before each segment. `fail(job, attempt, emitted)` may return an
    exception to raise after `emitted` segments of this attempt (checked before each
    segment and at the end). `gate`, when given, is waited on after `hold_after`
    segments (cancel still works while waiting).
    """

    segments: int = 3
    delay: float = 0.002
    fail: Callable[[Job, int, int], BaseException | None] | None = None
    gate: threading.Event | None = None
    hold_after: int = 0
    calls: list[Call] = field(default_factory=list)
    _attempts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Callable[[JobEvent], None],
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        with self._lock:
            attempt = self._attempts.get(job.id, 0) + 1
            self._attempts[job.id] = attempt
            self.calls.append(Call(job.id, job.name, resume, attempt))
        info = TranscriptInfo("en", 0.99, job.duration)
        emit(InfoReady(job.id, info))
        produced: list[Segment] = []
        remaining = self.segments - resume.next_id
        for index in range(remaining):
            self._maybe_fail(job, attempt, index)
            if self.gate is not None and index == self.hold_after:
                self._wait_gate(job, should_cancel)
            if should_cancel():
                raise TranscriptionCancelled(job.id)
            time.sleep(self.delay)
            seg = segment(resume.next_id + index)
            produced.append(seg)
            emit(SegmentAdded(job.id, seg))
            emit(Progress(job.id, (seg.id + 1) / self.segments, seg.end))
        self._maybe_fail(job, attempt, remaining)
        if self.gate is not None and self.hold_after >= remaining:
            self._wait_gate(job, should_cancel)
        return Transcript(info, tuple(produced), job.name)

    def _maybe_fail(self, job: Job, attempt: int, emitted: int) -> None:
        if self.fail is not None:
            exc = self.fail(job, attempt, emitted)
            if exc is not None:
                raise exc

    def _wait_gate(self, job: Job, should_cancel: Callable[[], bool]) -> None:
        assert self.gate is not None
        deadline = time.monotonic() + TIMEOUT
        while not self.gate.wait(0.002):
            if should_cancel():
                raise TranscriptionCancelled(job.id)
            if time.monotonic() > deadline:
                raise TimeoutError("test gate never opened")

    def attempts(self, job_id: str) -> int:
        return self._attempts.get(job_id, 0)

    def names(self) -> list[str]:
        return [c.name for c in self.calls]


def cancel_aware_worker(started: threading.Event | None = None) -> Callable[..., Transcript]:
    """A worker that emits one segment, then spins until cancelled (bounded)."""

    def worker(
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Callable[[JobEvent], None],
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        emit(SegmentAdded(job.id, segment(resume.next_id)))
        if started is not None:
            started.set()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if should_cancel():
                raise TranscriptionCancelled(job.id)
            time.sleep(0.002)
        raise TimeoutError("the dispatcher never asked this worker to stop")

    return worker


# ---- harness -------------------------------------------------------------------------


@dataclass
class Harness:
    dispatcher: Dispatcher
    pool: FakePool
    bus: EventBus
    queue: JobQueue
    events: list[JobEvent]
    statuses: dict[str, list[JobStatus]]

    async def submit(
        self, *paths: Path | Upload, submitter: str = "anonymous", start: bool = False
    ) -> list[Job]:
        uploads = [p if isinstance(p, Upload) else Upload(str(p)) for p in paths]
        jobs = await asyncio.wait_for(
            self.dispatcher.submit(uploads, OPTIONS, submitter=submitter), TIMEOUT
        )
        if start:
            self.dispatcher.start()
        return jobs

    async def finish(self, job: Job) -> Job:
        return await asyncio.wait_for(self.dispatcher.wait(job.id), TIMEOUT)

    def kinds(self, job_id: str) -> list[str]:
        return [e.kind for e in self.events if e.job_id == job_id]

    def of(self, job_id: str, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if e.job_id == job_id and isinstance(e, kind)]

    def started_order(self) -> list[str]:
        return [e.job_id for e in self.events if isinstance(e, Started)]

    def status(self, job: Job) -> JobStatus:
        found = self.dispatcher.registry.get(job.id)
        assert found is not None
        return found.status


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def _make(
        *,
        slots: int = 1,
        worker: Callable[..., Transcript] | None = None,
        queue: JobQueue | None = None,
        **kwargs: Any,
    ) -> Harness:
        pool = FakePool(slots)
        bus = EventBus()
        q = queue if queue is not None else JobQueue()
        events: list[JobEvent] = []
        statuses: dict[str, list[JobStatus]] = {}
        dispatcher = Dispatcher(pool, q, bus, run=worker or FakeWorker(), **kwargs)

        def record(event: JobEvent) -> None:
            # Status is read when the event is published: it must already be the new one.
            events.append(event)
            job = dispatcher.registry.get(event.job_id)
            if job is not None:
                seen = statuses.setdefault(event.job_id, [])
                if not seen or seen[-1] is not job.status:
                    seen.append(job.status)

        bus.add_listener(record)
        harness = Harness(dispatcher, pool, bus, q, events, statuses)
        made.append(harness)
        return harness

    yield _make
    for harness in made:
        await asyncio.wait_for(harness.dispatcher.stop(), TIMEOUT)


async def until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait (bounded) for a condition driven by the dispatcher's own tasks and threads."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


@contextlib.contextmanager
def opened(gate: threading.Event) -> Iterator[threading.Event]:
    """Always open a worker gate on the way out, so no thread outlives its test."""
    try:
        yield gate
    finally:
        gate.set()


# ---- 1. happy path -----------------------------------------------------------------


async def test_events_come_in_lifecycle_order_and_completed_holds_the_segments(
    make: Callable[..., Harness],
) -> None:
    h = make(worker=FakeWorker(segments=3))
    [job] = await h.submit(SPEECH, start=True)
    assert job.status is JobStatus.QUEUED
    assert job.name == "speech.wav"
    assert job.duration == pytest.approx(audio.probe(SPEECH).duration)  # really probed
    assert job.duration > 1.0

    done = await h.finish(job)

    assert h.kinds(job.id) == [
        "queued",
        "started",
        "info",
        *["segment", "progress"] * 3,
        "completed",
    ]
    assert h.statuses[job.id] == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.COMPLETED]
    assert done.status is JobStatus.COMPLETED
    assert done.attempts == 1
    assert done.started_at is not None and done.finished_at is not None
    [started] = h.of(job.id, Started)
    assert (started.device, started.model) == ("cpu", "tiny.en")
    [completed] = h.of(job.id, Completed)
    assert completed.transcript.segments == (segment(0), segment(1), segment(2))
    assert completed.transcript.text == "word0 word1 word2"
    assert completed.transcript.info.language == "en"
    assert completed.transcript.source_name == "speech.wav"
    assert h.dispatcher.registry.transcript(job.id) == completed.transcript
    assert h.bus.history(job.id) == [e for e in h.events if e.job_id == job.id]
    assert h.pool.requests == [ModelSpec("tiny.en")]
    assert (h.pool.grants, h.pool.releases) == (1, 1)


async def test_partial_transcript_is_available_while_the_job_runs(
    make: Callable[..., Harness],
) -> None:
    gate = threading.Event()
    h = make(worker=FakeWorker(segments=4, gate=gate, hold_after=2))
    with opened(gate):
        [job] = await h.submit(SPEECH, start=True)
        await until(lambda: len(h.of(job.id, SegmentAdded)) == 2, "two segments")

        assert h.status(job) is JobStatus.RUNNING
        partial = h.dispatcher.registry.transcript(job.id)
        assert partial is not None
        assert partial.segments == (segment(0), segment(1))
        assert partial.info.language == "en"  # from InfoReady
        assert partial.source_name == "speech.wav"
        gate.set()
        await h.finish(job)

    final = h.dispatcher.registry.transcript(job.id)
    assert final is not None
    assert [s.id for s in final.segments] == [0, 1, 2, 3]
    assert h.dispatcher.registry.transcript("no-such-job") is None


# ---- 2. a bad file in a batch --------------------------------------------------------


async def test_a_bad_file_fails_alone_at_submit_and_the_others_complete(
    make: Callable[..., Harness],
) -> None:
    worker = FakeWorker(segments=2)
    h = make(worker=worker)
    jobs = await h.submit(
        SPEECH, NOT_AUDIO, SECOND, Upload(str(EMPTY), name="My recording.wav"), start=True
    )
    speech, not_audio, second, empty = jobs

    for bad, name, reason in (
        (not_audio, "not_audio.mp3", "not a recognised audio or video file"),
        (empty, "My recording.wav", "empty"),
    ):
        assert bad.status is JobStatus.FAILED  # already when submit returns
        assert bad.error is not None and bad.error.startswith(f"{name}: ")
        assert reason in bad.error
        assert h.kinds(bad.id) == ["queued", "failed"]
        [failed] = h.of(bad.id, Failed)
        assert failed.message == bad.error
        assert bad.id not in h.queue

    for good in (speech, second):
        assert (await h.finish(good)).status is JobStatus.COMPLETED
    assert sorted(worker.names()) == ["second_speech.wav", "speech.wav"]
    assert h.status(not_audio) is JobStatus.FAILED
    assert h.status(empty) is JobStatus.FAILED


# ---- 3. a worker that raises ---------------------------------------------------------


async def test_a_worker_exception_fails_only_its_job_and_later_jobs_still_run(
    make: Callable[..., Harness],
) -> None:
    def fail(job: Job, attempt: int, emitted: int) -> BaseException | None:
        if job.name == "second_speech.wav" and emitted == 1:
            return ValueError("decoder exploded")
        return None

    worker = FakeWorker(segments=2, fail=fail)
    h = make(worker=worker)
    first, bad, third = await h.submit(SPEECH, SECOND, SPEECH, start=True)

    failed_job = await h.finish(bad)
    assert failed_job.status is JobStatus.FAILED
    assert failed_job.error is not None
    assert "second_speech.wav" in failed_job.error
    assert "decoder exploded" in failed_job.error
    assert "ValueError" in failed_job.error
    [failed] = h.of(bad.id, Failed)
    assert failed.message == failed_job.error
    assert h.pool.oom_reports == []  # a generic error is not an out-of-memory error

    assert (await h.finish(first)).status is JobStatus.COMPLETED
    assert (await h.finish(third)).status is JobStatus.COMPLETED
    # ... and jobs submitted after the failure still run.
    [later] = await h.submit(SPEECH)
    assert (await h.finish(later)).status is JobStatus.COMPLETED
    assert h.pool.grants == h.pool.releases == 4


async def test_an_audio_error_from_the_worker_fails_the_job_with_its_message(
    make: Callable[..., Harness],
) -> None:
    def fail(job: Job, attempt: int, emitted: int) -> BaseException | None:
        return audio.AudioError(job.path, "could not be decoded: truncated", name=job.name)

    h = make(worker=FakeWorker(fail=fail))
    [job] = await h.submit(Upload(str(SPEECH), name="interview.wav"), start=True)
    done = await h.finish(job)
    assert done.status is JobStatus.FAILED
    assert done.error == "interview.wav: could not be decoded: truncated"
    assert h.pool.grants == h.pool.releases == 1


# ---- 4. out of memory ----------------------------------------------------------------


async def test_out_of_memory_requeues_the_job_and_resumes_without_duplicating_segments(
    make: Callable[..., Harness],
) -> None:
    def fail(job: Job, attempt: int, emitted: int) -> BaseException | None:
        return RuntimeError(OOM_TEXT) if attempt == 1 and emitted == 2 else None

    worker = FakeWorker(segments=5, fail=fail)
    h = make(worker=worker, oom_retries=1)
    [job] = await h.submit(SPEECH, start=True)
    done = await h.finish(job)

    assert done.status is JobStatus.COMPLETED
    assert done.attempts == 2
    assert [c.resume for c in worker.calls] == [
        Resume(0.0, 0),
        Resume(offset_s=segment(1).end, next_id=2),
    ]
    assert len(h.pool.oom_reports) == 1
    assert h.pool.oom_reports[0].key.device == "cpu"
    [requeue] = [q for q in h.of(job.id, Queued) if q.requeued]
    assert "out of memory" in requeue.reason
    assert h.kinds(job.id)[:8] == [
        "queued",
        "started",
        "info",
        "segment",
        "progress",
        "segment",
        "progress",
        "queued",
    ]
    assert h.kinds(job.id)[8:10] == ["started", "info"]
    assert h.statuses[job.id] == [
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.COMPLETED,
    ]
    [completed] = h.of(job.id, Completed)
    assert [s.id for s in completed.transcript.segments] == [0, 1, 2, 3, 4]
    assert [e.segment.id for e in h.of(job.id, SegmentAdded)] == [0, 1, 2, 3, 4]
    assert h.pool.grants == h.pool.releases == 2


async def test_a_job_requeued_after_oom_goes_before_the_jobs_still_in_the_queue(
    make: Callable[..., Harness],
) -> None:
    def fail(job: Job, attempt: int, emitted: int) -> BaseException | None:
        return RuntimeError(OOM_TEXT) if job.name == "first.wav" and attempt == 1 else None

    h = make(worker=FakeWorker(segments=1, fail=fail))
    oom, second, third = await h.submit(
        Upload(str(SPEECH), "first.wav"), Upload(str(SECOND), "second.wav"), SPEECH, start=True
    )
    for job in (oom, second, third):
        assert (await h.finish(job)).status is JobStatus.COMPLETED
    # The requeued job goes before everything that was never admitted.
    order = h.started_order()
    assert order.index(oom.id, 1) < order.index(second.id), order
    assert order.index(oom.id, 1) < order.index(third.id), order


async def test_a_job_that_always_runs_out_of_memory_fails_after_its_retries(
    make: Callable[..., Harness],
) -> None:
    worker = FakeWorker(segments=2, fail=lambda job, attempt, emitted: RuntimeError(OOM_TEXT))
    h = make(worker=worker, oom_retries=1)
    first, second = await h.submit(SPEECH, SECOND, start=True)

    done = await h.finish(first)
    assert done.status is JobStatus.FAILED
    assert done.attempts == 2
    assert worker.attempts(first.id) == 2
    assert done.error is not None
    assert done.error.startswith("speech.wav: ")
    assert "ran out of memory" in done.error
    assert len([q for q in h.of(first.id, Queued) if q.requeued]) == 1
    [failed] = h.of(first.id, Failed)
    assert failed.message == done.error

    assert (await h.finish(second)).status is JobStatus.FAILED  # same fake worker, same fate
    assert len(h.pool.oom_reports) == 4
    assert h.pool.grants == h.pool.releases == 4


async def test_memory_error_counts_as_out_of_memory_and_oom_retries_zero_fails_at_once(
    make: Callable[..., Harness],
) -> None:
    worker = FakeWorker(fail=lambda job, attempt, emitted: MemoryError())
    h = make(worker=worker, oom_retries=0)
    [job] = await h.submit(SPEECH, start=True)
    done = await h.finish(job)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and "ran out of memory" in done.error
    assert worker.attempts(job.id) == 1
    assert len(h.pool.oom_reports) == 1
    assert h.pool.grants == h.pool.releases == 1


# ---- 5. cancel -----------------------------------------------------------------------


async def test_cancel_a_queued_job_is_immediate_and_it_never_starts(
    make: Callable[..., Harness],
) -> None:
    gate = threading.Event()
    worker = FakeWorker(segments=1, gate=gate)
    h = make(worker=worker)
    with opened(gate):
        running, admitting, waiting = await h.submit(SPEECH, SECOND, SPEECH, start=True)
        await until(lambda: h.pool.waiting == 1, "the second job to wait for a slot")
        assert waiting.id in h.queue

        assert h.dispatcher.cancel(waiting.id) is True
        assert h.status(waiting) is JobStatus.CANCELLED  # no await needed
        assert h.kinds(waiting.id) == ["queued", "cancelled"]
        assert waiting.id not in h.queue
        gate.set()
        assert (await h.finish(running)).status is JobStatus.COMPLETED
        assert (await h.finish(admitting)).status is JobStatus.COMPLETED

    assert (await h.finish(waiting)).status is JobStatus.CANCELLED
    assert waiting.id not in [c.job_id for c in worker.calls]
    assert h.pool.grants == h.pool.releases == 2


async def test_cancel_a_job_waiting_for_admission(make: Callable[..., Harness]) -> None:
    gate = threading.Event()
    worker = FakeWorker(segments=1, gate=gate)
    h = make(worker=worker)
    with opened(gate):
        running, admitting = await h.submit(SPEECH, SECOND, start=True)
        await until(lambda: h.pool.waiting == 1, "the second job to wait for a slot")
        # It stays queued until it has a slot, so anything that becomes the head may overtake.
        assert admitting.id in h.queue and h.queue.position(admitting.id) == 0

        assert h.dispatcher.cancel(admitting.id) is True
        done = await h.finish(admitting)
        assert done.status is JobStatus.CANCELLED
        assert h.kinds(admitting.id) == ["queued", "cancelled"]
        await until(lambda: h.pool.waiting == 0, "the admission to be withdrawn")
        gate.set()
        assert (await h.finish(running)).status is JobStatus.COMPLETED

    assert admitting.id not in [c.job_id for c in worker.calls]
    assert h.pool.grants == h.pool.releases == 1
    # The dispatcher goes on admitting after a cancelled admission.
    [later] = await h.submit(SECOND)
    assert (await h.finish(later)).status is JobStatus.COMPLETED


async def test_cancel_a_running_job_stops_the_worker_and_frees_the_slot(
    make: Callable[..., Harness],
) -> None:
    started = threading.Event()
    h = make(worker=cancel_aware_worker(started))
    [job] = await h.submit(SPEECH, start=True)
    await until(started.is_set, "the worker to start")
    assert h.status(job) is JobStatus.RUNNING

    assert h.dispatcher.cancel(job.id) is True
    done = await h.finish(job)
    assert done.status is JobStatus.CANCELLED
    assert done.finished_at is not None
    assert h.kinds(job.id) == ["queued", "started", "segment", "cancelled"]
    assert h.pool.grants == h.pool.releases == 1
    assert h.pool.busy == 0
    assert h.pool.oom_reports == []


async def test_the_slot_of_a_cancelled_job_goes_to_the_next_one(
    make: Callable[..., Harness],
) -> None:
    started = threading.Event()
    cancelling = cancel_aware_worker(started)
    finishing = FakeWorker(segments=1)

    def worker(job: Job, *args: Any) -> Transcript:
        return (cancelling if job.name == "speech.wav" else finishing)(job, *args)

    h = make(worker=worker)
    first, second = await h.submit(SPEECH, SECOND, start=True)
    await until(started.is_set, "the first worker to start")
    assert h.dispatcher.cancel(first.id) is True
    assert (await h.finish(first)).status is JobStatus.CANCELLED
    assert (await h.finish(second)).status is JobStatus.COMPLETED
    assert h.pool.max_busy == 1


async def test_cancel_returns_false_for_finished_and_unknown_jobs(
    make: Callable[..., Harness],
) -> None:
    h = make()
    done, bad = await h.submit(SPEECH, NOT_AUDIO, start=True)
    assert (await h.finish(done)).status is JobStatus.COMPLETED

    assert h.dispatcher.cancel(done.id) is False
    assert h.dispatcher.cancel(bad.id) is False  # failed at submit
    assert h.dispatcher.cancel("no-such-job") is False
    assert h.status(done) is JobStatus.COMPLETED
    assert h.status(bad) is JobStatus.FAILED
    assert h.kinds(done.id)[-1] == "completed"
    assert not h.of(done.id, Cancelled)


async def test_cancelling_twice_publishes_one_cancelled_event(
    make: Callable[..., Harness],
) -> None:
    h = make()
    [job] = await h.submit(SPEECH)  # not started: the job stays in the queue
    assert h.dispatcher.cancel(job.id) is True
    assert h.dispatcher.cancel(job.id) is False
    assert h.kinds(job.id) == ["queued", "cancelled"]


# ---- 6. concurrency ------------------------------------------------------------------


@pytest.mark.parametrize("slots", [1, 2])
async def test_jobs_overlap_only_when_the_pool_has_room(
    make: Callable[..., Harness], slots: int
) -> None:
    h = make(slots=slots, worker=FakeWorker(segments=4, delay=0.01))
    first, second = await h.submit(SPEECH, SECOND, start=True)
    await h.finish(first)
    await h.finish(second)

    kinds = [(e.kind, e.job_id) for e in h.events if isinstance(e, Started | Completed)]
    both_started = max(kinds.index(("started", first.id)), kinds.index(("started", second.id)))
    first_completed = min(
        kinds.index(("completed", first.id)), kinds.index(("completed", second.id))
    )
    if slots == 2:
        assert both_started < first_completed, kinds
    else:
        assert first_completed < both_started, kinds
    assert h.pool.max_busy == slots
    assert h.pool.grants == h.pool.releases == 2


# ---- 7. fairness ---------------------------------------------------------------------


async def test_a_small_upload_is_not_stuck_behind_a_big_one(
    make: Callable[..., Harness],
) -> None:
    worker = FakeWorker(segments=1)
    h = make(worker=worker)
    big = await h.submit(SPEECH, SPEECH, SPEECH, SPEECH, submitter="alice")
    [small] = await h.submit(SECOND, submitter="bob")
    h.dispatcher.start()
    await h.finish(big[-1])
    await h.finish(small)

    assert h.started_order() == [big[0].id, small.id, big[1].id, big[2].id, big[3].id]
    assert [c.job_id for c in worker.calls] == h.started_order()


async def test_a_late_small_upload_is_not_last_while_a_big_one_runs(
    make: Callable[..., Harness],
) -> None:
    """Starvation guard while the dispatcher is already busy."""
    gate = threading.Event()
    h = make(worker=FakeWorker(segments=1, gate=gate))
    with opened(gate):
        big = await h.submit(SPEECH, SPEECH, SPEECH, SPEECH, submitter="alice", start=True)
        await until(lambda: h.pool.waiting == 1, "alice's second job to wait for a slot")
        [small] = await h.submit(SECOND, submitter="bob")
        gate.set()
        await h.finish(small)
        await h.finish(big[-1])
    assert len(h.started_order()) == 5
    assert h.started_order().index(small.id) < 4


async def test_a_newcomer_is_next_in_line_after_the_other_submitter_was_served(
    make: Callable[..., Harness],
) -> None:
    gate = threading.Event()
    h = make(worker=FakeWorker(segments=1, gate=gate))
    with opened(gate):
        big = await h.submit(SPEECH, SPEECH, SPEECH, submitter="alice", start=True)
        # alice's first job runs and her second waits, still queued, for a slot:
        # she was served last, so the next turn is bob's.
        await until(lambda: h.pool.waiting == 1, "alice's second job to wait for a slot")
        [small] = await h.submit(SECOND, submitter="bob")
        assert [j.id for j in h.queue.order()] == [small.id, big[1].id, big[2].id]
        assert h.queue.position(small.id) == 0


async def test_a_late_small_upload_goes_next_while_a_big_one_runs(
    make: Callable[..., Harness],
) -> None:
    gate = threading.Event()
    h = make(worker=FakeWorker(segments=1, gate=gate))
    with opened(gate):
        big = await h.submit(SPEECH, SPEECH, SPEECH, SPEECH, submitter="alice", start=True)
        await until(lambda: h.pool.waiting == 1, "alice's second job to wait for a slot")
        [small] = await h.submit(SECOND, submitter="bob")
        gate.set()
        await h.finish(small)
        await h.finish(big[-1])
    assert h.started_order()[:3] == [big[0].id, small.id, big[1].id]


async def test_a_job_requeued_after_oom_runs_before_jobs_that_were_never_admitted(
    make: Callable[..., Harness],
) -> None:
    def fail(job: Job, attempt: int, emitted: int) -> BaseException | None:
        return RuntimeError(OOM_TEXT) if job.name == "speech.wav" and attempt == 1 else None

    h = make(worker=FakeWorker(segments=1, fail=fail))
    oom, other = await h.submit(SPEECH, SECOND, start=True)
    await h.finish(oom)
    await h.finish(other)
    assert h.started_order() == [oom.id, oom.id, other.id]


# ---- 8. options and queue bounds ----------------------------------------------------


async def test_options_error_from_the_validator_is_raised_and_nothing_is_queued(
    make: Callable[..., Harness],
) -> None:
    seen: list[TranscribeOptions] = []

    def validate(options: TranscribeOptions) -> None:
        seen.append(options)
        raise OptionsError("tiny.en is English-only; it cannot translate")

    h = make(validate=validate)
    with pytest.raises(OptionsError, match="English-only"):
        await h.submit(SPEECH, SECOND, start=True)
    assert seen == [OPTIONS]
    assert len(h.queue) == 0
    assert h.dispatcher.registry.jobs() == []
    assert h.events == []


async def test_queue_full_when_the_batch_exceeds_the_queue_size(
    make: Callable[..., Harness],
) -> None:
    h = make(queue=JobQueue(max_size=2))
    with pytest.raises(QueueFull):
        await h.submit(SPEECH, SECOND, SPEECH)
    assert len(h.queue) == 0
    assert h.dispatcher.registry.jobs() == []
    assert h.events == []

    # Room for two; bad files take no room; then a third good one does not fit.
    jobs = await h.submit(SPEECH, NOT_AUDIO, SECOND)
    assert [j.status for j in jobs] == [JobStatus.QUEUED, JobStatus.FAILED, JobStatus.QUEUED]
    assert len(h.queue) == 2
    with pytest.raises(QueueFull) as info:
        await h.submit(SPEECH)
    assert info.value.retry_after_s > 0
    assert len(h.queue) == 2
    assert len(h.dispatcher.registry.jobs()) == 3


# ---- 9. pool errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        PoolError("model 'tiny.en' cannot run on this machine now: no device has room for it"),
        ModelLoadError("model 'tiny.en' failed to load: model.bin is damaged"),
    ],
    ids=["PoolError", "ModelLoadError"],
)
async def test_a_pool_error_fails_that_job_and_the_next_one_still_runs(
    make: Callable[..., Harness], error: Exception
) -> None:
    worker = FakeWorker(segments=1)
    h = make(worker=worker)
    h.pool.fail_on_enter.append(error)
    failing, ok = await h.submit(SPEECH, SECOND, start=True)

    done = await h.finish(failing)
    assert done.status is JobStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("speech.wav: ")
    assert str(error) in done.error
    assert h.kinds(failing.id) == ["queued", "failed"]
    assert (await h.finish(ok)).status is JobStatus.COMPLETED
    assert worker.names() == ["second_speech.wav"]
    assert h.pool.grants == h.pool.releases == 1


# ---- 10. stop ------------------------------------------------------------------------


async def test_stop_interrupts_running_jobs_and_requeues_them_promptly(
    make: Callable[..., Harness],
) -> None:
    started = threading.Event()
    h = make(slots=2, worker=cancel_aware_worker(started))
    first, second = await h.submit(SPEECH, SECOND, start=True)
    await until(lambda: h.pool.busy == 2, "both jobs to run")

    began = time.monotonic()
    await asyncio.wait_for(h.dispatcher.stop(), 1.0)
    assert time.monotonic() - began < 0.5

    # Interrupted, not cancelled: they go back to the queue to resume after a restart.
    for job in (first, second):
        assert h.status(job) is JobStatus.QUEUED
        assert h.kinds(job.id)[-1] == "queued"
        assert job.id in h.queue
    assert h.pool.grants == h.pool.releases == 2
    # Stopped means stopped: a new submission is queued but does not run.
    [later] = await h.submit(SPEECH)
    await asyncio.sleep(0.02)
    assert h.status(later) is JobStatus.QUEUED
    assert h.pool.grants == 2


async def test_stop_without_start_and_twice_is_harmless(make: Callable[..., Harness]) -> None:
    h = make()
    await asyncio.wait_for(h.dispatcher.stop(), TIMEOUT)
    h.dispatcher.start()
    [job] = await h.submit(SPEECH)
    assert (await h.finish(job)).status is JobStatus.COMPLETED
    await asyncio.wait_for(h.dispatcher.stop(), TIMEOUT)
    await asyncio.wait_for(h.dispatcher.stop(), TIMEOUT)


async def test_stop_does_not_lose_the_job_waiting_for_admission(
    make: Callable[..., Harness],
) -> None:
    gate = threading.Event()
    h = make(worker=FakeWorker(segments=1, gate=gate))
    with opened(gate):
        running, admitting = await h.submit(SPEECH, SECOND, start=True)
        await until(lambda: h.pool.waiting == 1, "the second job to wait for a slot")
        await asyncio.wait_for(h.dispatcher.stop(), TIMEOUT)

    assert h.status(running) is JobStatus.QUEUED and running.id in h.queue
    assert h.status(admitting) is JobStatus.QUEUED and admitting.id in h.queue
    # A restarted dispatcher finishes both.
    h.dispatcher.start()
    assert (await h.finish(running)).status is JobStatus.COMPLETED
    assert (await h.finish(admitting)).status is JobStatus.COMPLETED


# ---- cancel racing an out-of-memory error -----------------------------------------


async def test_cancel_is_not_forgotten_when_the_attempt_then_runs_out_of_memory(
    make: Callable[..., Harness],
) -> None:
    cancel_seen = threading.Event()

    def worker(
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Callable[[JobEvent], None],
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        if cancel_seen.is_set():  # second attempt: runs normally
            return FakeWorker(segments=1)(job, lease, resume, emit, should_cancel)
        emit(SegmentAdded(job.id, segment(0)))
        deadline = time.monotonic() + TIMEOUT
        while not should_cancel() and time.monotonic() < deadline:
            time.sleep(0.002)
        cancel_seen.set()
        # The allocation inside the current decoding step fails before the worker
        # gets back to its between-segments cancel check.
        raise RuntimeError(OOM_TEXT)

    h = make(worker=worker)
    [job] = await h.submit(SPEECH, start=True)
    await until(lambda: bool(h.of(job.id, SegmentAdded)), "the first segment")
    assert h.dispatcher.cancel(job.id) is True
    done = await h.finish(job)
    assert done.status is JobStatus.CANCELLED
