"""Dispatcher: the one loop that moves jobs from the queue through the pool to the end.

It is the only code that changes a job's status (`_transition`), so every change is
checked against the lifecycle and published as an event in one place. It admits one
job at a time (the queue decides which, fairly), waits for a pool slot, and runs the
job in a worker thread; segments come back through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from whisper_ui import audio
from whisper_ui.domain import (
    TERMINAL,
    Cancelled,
    Completed,
    Failed,
    InfoReady,
    Job,
    JobEvent,
    JobStatus,
    Progress,
    Queued,
    Segment,
    SegmentAdded,
    Started,
    TranscribeOptions,
    Transcript,
    TranscriptInfo,
    check_transition,
)
from whisper_ui.engine.errors import is_out_of_memory
from whisper_ui.engine.pool import Lease, ModelSpec
from whisper_ui.engine.transcriber import Resume, TranscriptionCancelled, transcribe
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue, QueueFull

log = logging.getLogger(__name__)


class Pool(Protocol):
    """What the dispatcher needs of the model pool (engine.pool.ModelPool)."""

    def lease(self, spec: ModelSpec) -> AbstractAsyncContextManager[Lease]: ...

    def report_oom(self, lease: Lease) -> int: ...


class Journal(Protocol):
    """Where the dispatcher writes what happens (jobs.store.JobStore), so nothing is lost."""

    def save_job(self, job: Job) -> None: ...

    def add_segment(self, job_id: str, segment: Segment) -> None: ...

    def set_info(self, job_id: str, info: TranscriptInfo) -> None: ...

    def delete(self, job_id: str) -> None: ...


class OptionsError(ValueError):
    """Options that can never work (e.g. translate with an English-only model)."""


class JobStateError(RuntimeError):
    """The job exists but is in the wrong state for the request (e.g. retry a running job)."""


@dataclass(frozen=True)
class Upload:
    """One file handed to `submit`: where it is on disk and the name the user knows it by."""

    path: str
    name: str = ""


Validator = Callable[[TranscribeOptions], None]
Worker = Callable[[Job, Lease, Resume, Callable[[JobEvent], None], Callable[[], bool]], Transcript]


class Dispatcher:
    def __init__(
        self,
        pool: Pool,
        queue: JobQueue,
        bus: EventBus,
        *,
        max_duration_s: float | None = None,
        oom_retries: int = 2,
        validate: Validator | None = None,
        clock: Callable[[], float] = time.time,
        worker: Worker | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.bus = bus
        self.max_duration_s = max_duration_s
        self.oom_retries = oom_retries
        self._validate = validate
        self._clock = clock
        self._worker: Worker = worker or transcribe_file
        self._journal = journal
        self._jobs: dict[str, Job] = {}
        self._segments: dict[str, list[Segment]] = {}
        self._info: dict[str, TranscriptInfo] = {}
        self._progress: dict[str, float] = {}
        self._transcripts: dict[str, Transcript] = {}
        self._cancel_flags: dict[str, threading.Event] = {}
        self._stopping = False
        self._user_cancelled: set[str] = set()
        self._save_errors: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # ---- queries -------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def count(self, status: JobStatus) -> int:
        """How many known jobs are in `status` (health and the resources panel)."""
        return sum(1 for job in self._jobs.values() if job.status is status)

    def progress(self, job_id: str) -> float:
        """Fraction of the job's audio decoded so far (1.0 once completed)."""
        job = self._jobs.get(job_id)
        if job is not None and job.status is JobStatus.COMPLETED:
            return 1.0
        return self._progress.get(job_id, 0.0)

    def transcript(self, job_id: str) -> Transcript | None:
        """The final transcript, or the partial one of a job still running."""
        done = self._transcripts.get(job_id)
        if done is not None:
            return done
        job = self._jobs.get(job_id)
        if job is None:
            return None
        info = self._info.get(job_id) or TranscriptInfo("", 0.0, job.duration)
        return Transcript(info, tuple(self._segments.get(job_id, ())), job.name)

    # ---- submission ----------------------------------------------------------

    async def submit(
        self,
        uploads: Sequence[Upload],
        options: TranscribeOptions,
        *,
        submitter: str = "anonymous",
        batch_id: str | None = None,
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
            name = upload.name or Path(upload.path).name
            job = Job(
                id=uuid.uuid4().hex,
                path=str(upload.path),
                name=name,
                options=options,
                duration=probe.duration if isinstance(probe, audio.MediaInfo) else 0.0,
                batch_id=batch,
                submitter=submitter,
                created_at=self._clock(),
            )
            self._jobs[job.id] = job
            self._segments[job.id] = []
            self._record(job.id, functools.partial(_save, job))
            self.bus.publish(Queued(job.id))
            if isinstance(probe, audio.AudioError):
                self._finish_failed(job.id, str(probe))
            else:
                self.queue.push(job)
            jobs.append(self._jobs[job.id])
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
        job = self._jobs[job_id]
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
            if job.id in self._jobs:
                continue
            self._jobs[job.id] = job
            self._segments[job.id] = list(segments)
            if info is not None:
                self._info[job.id] = info
            self.bus.publish(Queued(job.id))
            if info is not None:
                self.bus.publish(InfoReady(job.id, info))
            for segment in segments:
                self.bus.publish(SegmentAdded(job.id, segment))
            if job.status is JobStatus.COMPLETED:
                transcript = self.transcript(job.id)
                assert transcript is not None
                self._transcripts[job.id] = transcript
                self.bus.publish(Completed(job.id, transcript))
            elif job.status is JobStatus.FAILED:
                self.bus.publish(Failed(job.id, job.error or f"{job.name}: failed"))
            elif job.status is JobStatus.CANCELLED:
                self.bus.publish(Cancelled(job.id))
            else:
                if job.status is JobStatus.RUNNING:
                    self._transition(job.id, JobStatus.QUEUED)
                    self.bus.publish(
                        Queued(job.id, requeued=True, reason="resumed after a restart")
                    )
                if segments and job.duration:
                    self._progress[job.id] = min(1.0, segments[-1].end / job.duration)
                self.queue.push(self._jobs[job.id], front=bool(segments))
                requeued += 1
        return requeued

    def forget(self, job_id: str) -> Job:
        """Drop a finished job from memory and the journal; its files are the caller's.

        Raises KeyError for an unknown job and JobStateError while it is not finished
        (cancel it first).
        """
        job = self._jobs[job_id]
        if job.status not in TERMINAL:
            raise JobStateError(f"{job.name}: cancel the job before deleting it")
        for table in (self._jobs, self._segments, self._info, self._transcripts, self._progress):
            table.pop(job_id, None)
        self.bus.forget(job_id)
        self._record(job_id, lambda journal: journal.delete(job_id))
        return job

    # ---- cancellation --------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Cancel a waiting or running job; False when it is unknown or already over."""
        job = self._jobs.get(job_id)
        if job is None or job.status in TERMINAL:
            return False
        if self.queue.remove(job_id) is not None:
            self._transition(job_id, JobStatus.CANCELLED, finished_at=self._clock())
            self.bus.publish(Cancelled(job_id))
            return True
        flag = self._cancel_flags.get(job_id)
        if flag is None:
            return False
        self._user_cancelled.add(job_id)
        flag.set()  # the running worker stops at the next segment
        return True

    # ---- the loop ------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        """Stop admitting and interrupt running jobs; waits for worker threads to notice.

        Interrupted jobs go back to QUEUED (not CANCELLED): with a journal they resume
        after their last saved segment when the server starts again.
        """
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for flag in self._cancel_flags.values():
            flag.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self, job_id: str) -> Job:
        """Return the job once it reaches a terminal status."""
        if job_id not in self._jobs:
            raise KeyError(job_id)
        async for _ in self.bus.subscribe(job_id):
            pass
        return self._jobs[job_id]

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
                lease_cm = self.pool.lease(spec)
                lease = await self._admit(lease_cm, spec)
            except Exception as exc:
                job = self.queue.peek()
                if job is not None and job.options.model == spec.model:
                    self.queue.remove(job.id)
                    log.warning("could not start %s: %s", job.name, exc)
                    self._finish_failed(job.id, f"{job.name}: {exc}")
                continue
            if lease is None:
                continue  # the head changed to another model; plan again
            job = self.queue.peek()
            if job is None or job.options.model != spec.model:
                await lease_cm.__aexit__(None, None, None)
                continue
            taken = self.queue.pop_nowait()  # counts as a turn for its submitter
            assert taken is job
            flag = self._cancel_flags[job.id] = threading.Event()
            if job.id in self._save_errors:
                flag.set()  # it could not be saved: it fails as soon as it starts
            task = asyncio.get_running_loop().create_task(self._run_job(job.id, lease_cm, lease))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _admit(
        self, lease_cm: AbstractAsyncContextManager[Lease], spec: ModelSpec
    ) -> Lease | None:
        """Wait for a slot for `spec`; None when the queue's head no longer wants it."""
        admission = asyncio.ensure_future(lease_cm.__aenter__())
        try:
            while not admission.done():
                changed = asyncio.ensure_future(self.queue.wait_changed())
                try:
                    await asyncio.wait({admission, changed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                head = self.queue.peek()
                if not admission.done() and (head is None or head.options.model != spec.model):
                    break
        finally:
            if not admission.done():
                admission.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await admission
        if admission.cancelled():
            return None
        return admission.result()

    async def _run_job(
        self, job_id: str, lease_cm: AbstractAsyncContextManager[Lease], lease: Lease
    ) -> None:
        job = self._jobs[job_id]
        flag = self._cancel_flags[job_id]
        loop = asyncio.get_running_loop()
        done = self._segments[job_id]
        resume = Resume(offset_s=done[-1].end if done else 0.0, next_id=len(done))
        try:
            job = self._transition(
                job_id,
                JobStatus.RUNNING,
                started_at=job.started_at or self._clock(),
                device=lease.key.device,
                attempts=job.attempts + 1,
            )
            self.bus.publish(Started(job_id, lease.key.device, lease.key.model))

            def emit(event: JobEvent) -> None:
                loop.call_soon_threadsafe(self._on_worker_event, event)

            await asyncio.to_thread(self._worker, job, lease, resume, emit, flag.is_set)
        except TranscriptionCancelled:
            if job_id in self._save_errors:
                self._finish_failed(job_id, self._save_errors.pop(job_id))
            elif self._stopping and job_id not in self._user_cancelled:
                self._transition(job_id, JobStatus.QUEUED)
                self.bus.publish(Queued(job_id, requeued=True, reason="server stopping"))
                self.queue.push(self._jobs[job_id], front=True)
            else:
                self._transition(job_id, JobStatus.CANCELLED, finished_at=self._clock())
                self.bus.publish(Cancelled(job_id))
        except audio.AudioError as exc:
            self._finish_failed(job_id, str(exc))
        except Exception as exc:
            if flag.is_set():
                self._transition(job_id, JobStatus.CANCELLED, finished_at=self._clock())
                self.bus.publish(Cancelled(job_id))
            elif is_out_of_memory(exc):
                self._out_of_memory(job_id, lease, exc)
            else:
                log.exception("job %s (%s) failed", job_id, job.name)
                self._finish_failed(
                    job_id, f"{job.name}: transcription failed ({type(exc).__name__}: {exc})"
                )
        else:
            transcript = self.transcript(job_id)
            assert transcript is not None
            self._transcripts[job_id] = transcript
            self._transition(job_id, JobStatus.COMPLETED, finished_at=self._clock())
            self.bus.publish(Completed(job_id, transcript))
        finally:
            self._cancel_flags.pop(job_id, None)
            self._user_cancelled.discard(job_id)
            await lease_cm.__aexit__(None, None, None)

    def _out_of_memory(self, job_id: str, lease: Lease, exc: BaseException) -> None:
        job = self._jobs[job_id]
        cap = self.pool.report_oom(lease)
        if job.attempts > self.oom_retries:
            self._finish_failed(
                job_id,
                f"{job.name}: ran out of memory on {lease.key.device} {job.attempts} times "
                f"({exc}); try a smaller model or fewer jobs at once",
            )
            return
        self._transition(job_id, JobStatus.QUEUED)
        reason = f"out of memory on {lease.key.device}; capacity lowered to {cap}, retrying"
        self.bus.publish(Queued(job_id, requeued=True, reason=reason))
        self.queue.push(self._jobs[job_id], front=True)

    def _on_worker_event(self, event: JobEvent) -> None:
        job = self._jobs.get(event.job_id)
        if job is None or job.status is not JobStatus.RUNNING:
            return
        if isinstance(event, SegmentAdded):
            self._segments[event.job_id].append(event.segment)
            segment = event.segment
            self._record(event.job_id, lambda journal: journal.add_segment(event.job_id, segment))
        elif isinstance(event, InfoReady):
            self._info[event.job_id] = event.info
            info = event.info
            self._record(event.job_id, lambda journal: journal.set_info(event.job_id, info))
        elif isinstance(event, Progress):
            self._progress[event.job_id] = event.fraction
        self.bus.publish(event)

    # ---- the single owner of status changes ----------------------------------

    def _transition(self, job_id: str, status: JobStatus, **changes: Any) -> Job:
        job = self._jobs[job_id]
        check_transition(job.status, status)
        job = dataclasses.replace(job, status=status, **changes)
        self._jobs[job_id] = job
        self._record(job_id, lambda journal: journal.save_job(job))
        return job

    def _record(self, job_id: str, write: Callable[[Journal], None]) -> None:
        """Write to the journal; a failure (disk full) fails the affected job only.

        The job keeps running in memory until its next segment, where the worker sees
        the cancel flag; it then ends FAILED with the reason instead of CANCELLED.
        """
        if self._journal is None:
            return
        try:
            write(self._journal)
        except Exception as exc:  # sqlite3/OS errors: disk full, read-only disk
            log.error("could not save job %s: %s", job_id, exc)
            job = self._jobs.get(job_id)
            if job is not None and job.status not in TERMINAL and job_id not in self._save_errors:
                self._save_errors[job_id] = f"{job.name}: could not save the job ({exc})"
                flag = self._cancel_flags.get(job_id)
                if flag is not None:
                    flag.set()

    def _finish_failed(self, job_id: str, message: str) -> None:
        self._transition(job_id, JobStatus.FAILED, finished_at=self._clock(), error=message)
        self.bus.publish(Failed(job_id, message))


def _save(job: Job, journal: Journal) -> None:
    journal.save_job(job)


def transcribe_file(
    job: Job,
    lease: Lease,
    resume: Resume,
    emit: Callable[[JobEvent], None],
    should_cancel: Callable[[], bool],
) -> Transcript:
    """Default worker: decode the file and run the transcriber (in a worker thread)."""
    samples = audio.decode(job.path, name=job.name)
    return transcribe(
        lease.model,
        samples,
        job.options,
        job_id=job.id,
        emit=emit,
        should_cancel=should_cancel,
        resume=resume,
        source_name=job.name,
    )
