"""Dispatcher: the lifecycle of jobs, from the queue through the pool to the end.

It is the only code that changes a job's status, and it does so in one call
(`_move`): check the change against the lifecycle, store it in the registry, write it
to the journal, publish its event. A job's warnings (a damaged file that still
decoded in part, no speech found) are added the same way, by `_warn`. It admits one
job at a time (the queue decides which, fairly), waits for a pool slot, and runs the
job with `run` (engine/runner) in a thread; segments come back through
`call_soon_threadsafe`. What is known about a job besides its status (segments,
progress, stop flags) is kept by the JobRegistry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from whisper_ui import audio
from whisper_ui.domain import (
    NO_SPEECH,
    TERMINAL,
    Cancelled,
    Completed,
    Failed,
    InfoReady,
    Job,
    JobEvent,
    JobStateError,
    JobStatus,
    Progress,
    Queued,
    Resume,
    Segment,
    SegmentAdded,
    SpeakersFound,
    Started,
    TranscribeOptions,
    TranscriptInfo,
    Upload,
    Voice,
    WarningAdded,
    check_transition,
    explains_no_text,
    no_speech,
)
from whisper_ui.engine import speakers
from whisper_ui.engine.errors import CapacityLost, TranscriptionCancelled, is_out_of_memory
from whisper_ui.engine.pool import Lease, ModelSpec
from whisper_ui.engine.runner import RunJob, run_plain
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue, QueueFull
from whisper_ui.jobs.registry import JobRegistry

log = logging.getLogger(__name__)


class Pool(Protocol):
    """What the dispatcher needs of the model pool (engine.pool.ModelPool)."""

    async def reserve(self, spec: ModelSpec) -> Any: ...

    def use(self, reservation: Any) -> AbstractAsyncContextManager[Lease]: ...

    async def release(self, reservation: Any) -> None: ...

    def report_oom(self, lease: Lease) -> int: ...


class Journal(Protocol):
    """Where the dispatcher writes what happens (jobs.store.JobStore), so nothing is lost."""

    def save_job(self, job: Job) -> None: ...

    def add_segment(self, job_id: str, segment: Segment) -> None: ...

    def set_info(self, job_id: str, info: TranscriptInfo) -> None: ...

    def replace_segments(self, job_id: str, segments: Sequence[Segment]) -> None: ...

    def delete(self, job_id: str) -> None: ...


Validator = Callable[[TranscribeOptions], None]


class Dispatcher:
    def __init__(
        self,
        pool: Pool,
        queue: JobQueue,
        bus: EventBus,
        registry: JobRegistry | None = None,
        *,
        run: RunJob = run_plain,
        max_duration_s: float | None = None,
        oom_retries: int = 2,
        validate: Validator | None = None,
        clock: Callable[[], float] = time.time,
        journal: Journal | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.bus = bus
        self.registry = registry if registry is not None else JobRegistry()
        self.max_duration_s = max_duration_s
        self.oom_retries = oom_retries
        self._run = run
        self._validate = validate
        self._clock = clock
        self._journal = journal
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # ---- submission ----------------------------------------------------------

    async def submit(
        self,
        uploads: Sequence[Upload],
        options: TranscribeOptions,
        *,
        submitter: str = "anonymous",
        batch_id: str | None = None,
        voices: Sequence[Voice] = (),
    ) -> list[Job]:
        """Probe each file and queue it; a bad file becomes a FAILED job, alone.

        Raises OptionsError before anything is queued when the options cannot work,
        and QueueFull (from the queue) when there is no room for the batch.
        """
        if self._validate is not None:
            self._validate(options)
        batch = batch_id or uuid.uuid4().hex[:12]
        probes = await asyncio.gather(*(asyncio.to_thread(self._probe, u) for u in uploads))
        good = sum(1 for p in probes if isinstance(p, audio.MediaInfo))
        if good and len(self.queue) + good > self.queue.max_size:
            raise QueueFull(len(self.queue))
        jobs: list[Job] = []
        for upload, probe in zip(uploads, probes, strict=True):
            job = Job(
                id=uuid.uuid4().hex,
                path=str(upload.path),
                name=upload.name or Path(upload.path).name,
                options=options,
                duration=probe.duration if isinstance(probe, audio.MediaInfo) else 0.0,
                batch_id=batch,
                submitter=submitter,
                created_at=self._clock(),
                voices=tuple(voices),
            )
            self.registry.add(job)
            self._record(job.id, _saver(job))
            self.bus.publish(Queued(job.id))
            if isinstance(probe, audio.AudioError):
                self._move(job.id, JobStatus.FAILED, error=str(probe))
            else:
                self.queue.push(job)
            jobs.append(self._job(job.id))
        return jobs

    def _probe(self, upload: Upload) -> audio.MediaInfo | audio.AudioError:
        try:
            return audio.probe(
                upload.path, name=upload.name or None, max_duration_s=self.max_duration_s
            )
        except audio.AudioError as exc:
            return exc

    async def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job's file again, as a new job in the same batch.

        A new id keeps every job's event log append-only and its terminal state final.
        Raises KeyError for an unknown job and JobStateError for any other state.
        """
        job = self._job(job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(
                f"{job.name}: only a failed or cancelled job can be retried; "
                f"this one is {job.status.value}"
            )
        (new,) = await self.submit(
            [Upload(job.path, job.name)],
            job.options,
            submitter=job.submitter,
            batch_id=job.batch_id,
            voices=job.voices,
        )
        return new

    def restore(
        self,
        stored: Sequence[tuple[Job, Sequence[Segment], TranscriptInfo | None]],
    ) -> int:
        """Take back jobs saved before a restart; returns how many were queued again.

        Finished jobs come back with their transcripts and a replayed event log (so a
        late subscriber still gets the history). Queued jobs queue again; jobs that were
        running resume after their last saved segment, at the head of the queue, and
        keep the segments they had: nothing is decoded or published twice.
        """
        requeued = 0
        for job, segments, info in stored:
            if job.id in self.registry:
                continue
            self.registry.add(job, segments, info)
            self.bus.publish(Queued(job.id))
            if info is not None:
                self.bus.publish(InfoReady(job.id, info))
            for segment in segments:
                self.bus.publish(SegmentAdded(job.id, segment))
            for warning in job.warnings:  # a resumed job finds them again: said once
                self.bus.publish(WarningAdded(job.id, warning))
            if job.status is JobStatus.COMPLETED:
                self.bus.publish(Completed(job.id, self.registry.seal(job.id)))
            elif job.status is JobStatus.FAILED:
                self.bus.publish(Failed(job.id, job.error or f"{job.name}: failed"))
            elif job.status is JobStatus.CANCELLED:
                self.bus.publish(Cancelled(job.id))
            else:
                if job.status is JobStatus.RUNNING:
                    self._move(job.id, JobStatus.QUEUED, reason="resumed after a restart")
                self.queue.push(self._job(job.id), front=bool(segments))
                requeued += 1
        return requeued

    def forget(self, job_id: str) -> Job:
        """Drop a finished job from memory and the journal; its files are the caller's.

        Raises KeyError for an unknown job and JobStateError while it is not finished
        (cancel it first).
        """
        job = self._job(job_id)
        if job.status not in TERMINAL:
            raise JobStateError(f"{job.name}: cancel the job before deleting it")
        self.registry.forget(job_id)
        self.bus.forget(job_id)
        self._record(job_id, lambda journal: journal.delete(job_id))
        return job

    # ---- cancellation --------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Cancel a waiting or running job; False when it is unknown or already over."""
        job = self.registry.get(job_id)
        if job is None or job.status in TERMINAL:
            return False
        if self.queue.remove(job_id) is not None:
            self._move(job_id, JobStatus.CANCELLED)
            return True
        return self.registry.stop(job_id, by_user=True)  # it stops at its next segment

    # ---- the loop ------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        """Stop admitting and interrupt running jobs; waits for their threads to notice.

        Interrupted jobs go back to QUEUED (not CANCELLED): with a journal they resume
        after their last saved segment when the server starts again.
        """
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        self.registry.stop_all()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self, job_id: str) -> Job:
        """Return the job once it reaches a terminal status."""
        if job_id not in self.registry:
            raise KeyError(job_id)
        async for _ in self.bus.subscribe(job_id):
            pass
        return self._job(job_id)

    async def _run_forever(self) -> None:
        """Admit jobs one at a time, taking a job off the queue only once it has a slot.

        Until the pool grants a slot the job stays queued, so a requeued job or a
        newcomer's file that becomes the head meanwhile goes first, and a cancel is
        a plain removal from the queue.
        """
        while True:
            await self.queue.wait_nonempty()
            head = self.queue.peek()
            if head is None:
                continue
            spec = ModelSpec(head.options.model)
            try:
                reservation = await self._reserve(spec)
            except Exception as exc:
                job = self.queue.peek()
                if job is not None and job.options.model == spec.model:
                    self.queue.remove(job.id)
                    log.warning("could not start %s: %s", job.name, exc)
                    self._move(job.id, JobStatus.FAILED, error=f"{job.name}: {exc}")
                continue
            if reservation is None:
                continue  # the head changed to another model; plan again
            job = self.queue.peek()
            if job is None or job.options.model != spec.model:
                await self.pool.release(reservation)
                continue
            taken = self.queue.pop_nowait()  # counts as a turn for its submitter
            assert taken is job
            self.registry.arm(job.id)
            task = asyncio.get_running_loop().create_task(self._run_job(job.id, reservation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reserve(self, spec: ModelSpec) -> Any | None:
        """Wait for a slot for `spec`; None when the queue's head no longer wants it."""
        reserving = asyncio.ensure_future(self.pool.reserve(spec))
        try:
            while not reserving.done():
                changed = asyncio.ensure_future(self.queue.wait_changed())
                try:
                    await asyncio.wait({reserving, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                head = self.queue.peek()
                if not reserving.done() and (head is None or head.options.model != spec.model):
                    break
        finally:
            if not reserving.done():
                reserving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reserving
        return None if reserving.cancelled() else reserving.result()

    async def _run_job(self, job_id: str, reservation: Any) -> None:
        registry = self.registry
        try:
            async with self.pool.use(reservation) as lease:
                await self._transcribe(job_id, lease)
        except CapacityLost as exc:  # its device cannot run models: the pool now plans without it
            log.warning("%s goes back to the queue: %s", self._job(job_id).name, exc)
            self._capacity_lost(job_id, exc)
        except Exception as exc:  # the model failed to load
            log.warning("could not start %s: %s", job_id, exc)
            self._move(job_id, JobStatus.FAILED, error=f"{self._job(job_id).name}: {exc}")
        finally:
            registry.disarm(job_id)

    async def _transcribe(self, job_id: str, lease: Lease) -> None:
        """Run the job on `lease` and move it to where it ends (or back to the queue)."""
        registry = self.registry
        if registry.stop_requested(job_id):  # cancelled (or stopping) while its model loaded
            self._stopped(job_id)
            return
        loop = asyncio.get_running_loop()
        done = registry.segments(job_id)
        resume = Resume(offset_s=done[-1].end if done else 0.0, next_id=len(done))
        job = self._job(job_id)
        job = self._move(
            job_id,
            JobStatus.RUNNING,
            started_at=job.started_at or self._clock(),
            device=lease.key.device,
            node=lease.node,
            attempts=job.attempts + 1,
        )

        def emit(event: JobEvent) -> None:
            loop.call_soon_threadsafe(self._on_event, event)

        def should_stop() -> bool:
            return registry.stop_requested(job_id)

        try:
            await asyncio.to_thread(self._run, job, lease, resume, emit, should_stop)
        except TranscriptionCancelled:
            self._stopped(job_id)
        except audio.AudioError as exc:
            self._move(job_id, JobStatus.FAILED, error=str(exc))
        except CapacityLost as exc:  # a cluster node left: resume elsewhere, nothing lost
            self._capacity_lost(job_id, exc)
        except Exception as exc:
            if registry.stop_requested(job_id):
                self._move(job_id, JobStatus.CANCELLED)
            elif is_out_of_memory(exc):
                self._out_of_memory(job_id, lease, exc)
            else:
                log.exception("job %s (%s) failed", job_id, job.name)
                message = f"{job.name}: transcription failed ({type(exc).__name__}: {exc})"
                self._move(job_id, JobStatus.FAILED, error=message)
        else:
            transcript = registry.transcript(job_id)
            explained = explains_no_text(self._job(job_id).warnings)
            if transcript is not None and no_speech(transcript) and not explained:
                self._warn(job_id, NO_SPEECH)
            self._move(job_id, JobStatus.COMPLETED)

    def _stopped(self, job_id: str) -> None:
        """A job stopped on its flag: it could not be saved, the server is stopping (it
        goes back to the queue, to resume), or a person cancelled it."""
        save_error = self.registry.take_save_error(job_id)
        if save_error is not None:
            self._move(job_id, JobStatus.FAILED, error=save_error)
        elif self._stopping and not self.registry.cancelled_by_user(job_id):
            self._requeue(job_id, "server stopping")
        else:
            self._move(job_id, JobStatus.CANCELLED)

    def _capacity_lost(self, job_id: str, exc: CapacityLost) -> None:
        """Its slot went away (a node left, its device cannot run models): back to the
        queue to resume elsewhere, unless it was being stopped anyway."""
        if self.registry.stop_requested(job_id):
            self._stopped(job_id)
        else:
            self._requeue(job_id, str(exc))

    def _requeue(self, job_id: str, reason: str) -> None:
        """Back to the front of the queue, to resume after its last saved segment. A job
        that had not started yet is still queued: it only goes back in line."""
        if self._job(job_id).status is JobStatus.RUNNING:
            self._move(job_id, JobStatus.QUEUED, reason=reason)
        self.queue.push(self._job(job_id), front=True)

    def _out_of_memory(self, job_id: str, lease: Lease, exc: BaseException) -> None:
        job = self._job(job_id)
        cap = self.pool.report_oom(lease)
        if job.attempts > self.oom_retries:
            message = (
                f"{job.name}: ran out of memory on {lease.key.device} {job.attempts} times "
                f"({exc}); try a smaller model or fewer jobs at once"
            )
            self._move(job_id, JobStatus.FAILED, error=message)
            return
        reason = f"out of memory on {lease.key.device}; capacity lowered to {cap}, retrying"
        self._requeue(job_id, reason)

    def _on_event(self, event: JobEvent) -> None:
        """An event from a running job's thread, on the loop: remember, journal, publish."""
        job_id = event.job_id
        job = self.registry.get(job_id)
        if job is None or job.status is not JobStatus.RUNNING:
            return
        if isinstance(event, SegmentAdded):
            segment = event.segment
            self.registry.add_segment(job_id, segment)
            self._record(job_id, lambda journal: journal.add_segment(job_id, segment))
        elif isinstance(event, InfoReady):
            info = event.info
            self.registry.set_info(job_id, info)
            self._record(job_id, lambda journal: journal.set_info(job_id, info))
        elif isinstance(event, Progress):
            self.registry.set_progress(job_id, event.fraction, event.stage)
        elif isinstance(event, SpeakersFound):
            segments = speakers.assign(self.registry.segments(job_id), event.turns)
            self.registry.replace_segments(job_id, segments)
            self._record(job_id, lambda journal: journal.replace_segments(job_id, segments))
            event = dataclasses.replace(event, segments=segments)
        elif isinstance(event, WarningAdded):
            self._warn(job_id, event.message)
            return
        self.bus.publish(event)

    def _warn(self, job_id: str, message: str) -> None:
        """Add a warning to the job, journal and publish it; once only, because a job
        resumed after a restart or an out-of-memory retry decodes its file again."""
        job = self._job(job_id)
        if message in job.warnings:
            return
        job = dataclasses.replace(job, warnings=(*job.warnings, message))
        self.registry.put(job)
        self._record(job_id, _saver(job))
        self.bus.publish(WarningAdded(job_id, message))

    # ---- the single owner of status changes ----------------------------------

    def _job(self, job_id: str) -> Job:
        job = self.registry.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def _move(self, job_id: str, status: JobStatus, *, reason: str = "", **changes: Any) -> Job:
        """Change a job's status, journal it and publish its event: the one way to do it.

        `changes` are other fields of the Job (error, device, ...); a terminal status
        also sets finished_at. `reason` says why a job goes back to the queue.
        """
        job = self._job(job_id)
        check_transition(job.status, status)
        if status in TERMINAL:
            changes.setdefault("finished_at", self._clock())
        job = dataclasses.replace(job, status=status, **changes)
        self.registry.put(job)
        self._record(job_id, lambda journal: journal.save_job(job))
        self.bus.publish(self._event(job, reason))
        return job

    def _event(self, job: Job, reason: str) -> JobEvent:
        status = job.status
        if status is JobStatus.QUEUED:
            return Queued(job.id, requeued=True, reason=reason)
        if status is JobStatus.RUNNING:
            return Started(job.id, job.device or "", job.options.model)
        if status is JobStatus.COMPLETED:
            return Completed(job.id, self.registry.seal(job.id))
        if status is JobStatus.FAILED:
            return Failed(job.id, job.error or f"{job.name}: failed")
        return Cancelled(job.id)

    def _record(self, job_id: str, write: Callable[[Journal], None]) -> None:
        """Write to the journal; a failure (disk full) fails the affected job only.

        The job keeps running in memory until its next segment, where its thread sees
        the stop flag; it then ends FAILED with the reason instead of CANCELLED.
        """
        if self._journal is None:
            return
        try:
            write(self._journal)
        except Exception as exc:  # sqlite3/OS errors: disk full, read-only disk
            log.error("could not save job %s: %s", job_id, exc)
            job = self.registry.get(job_id)
            if job is not None and job.status not in TERMINAL:
                self.registry.note_save_error(job_id, f"{job.name}: could not save the job ({exc})")


def _saver(job: Job) -> Callable[[Journal], None]:
    """A journal write for `job` as it is now (a closure per job, not per loop variable)."""

    def write(journal: Journal) -> None:
        journal.save_job(job)

    return write
