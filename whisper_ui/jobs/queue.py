"""JobQueue: bounded, and fair between submitters.

Jobs from one submission form a batch. Submitters take turns: the next job comes
from the submitter served longest ago (a newcomer counts as never served), so one
person's upload of 500 files cannot starve another's 2;
a submitter's batches run in the order they arrived, and inside a batch jobs go
first-in-first-out or shortest-audio-first. Jobs requeued after an out-of-memory
error go before everything else: they were already admitted once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Literal

from whisper_ui.domain import Job

Schedule = Literal["fifo", "shortest"]


class QueueFull(RuntimeError):
    """The queue holds its maximum; the caller should retry later."""

    def __init__(self, size: int, retry_after_s: int = 10) -> None:
        super().__init__(f"the queue is full ({size} jobs waiting); try again later")
        self.retry_after_s = retry_after_s


class JobQueue:
    def __init__(self, max_size: int = 1000, schedule: Schedule = "fifo") -> None:
        self.max_size = max_size
        self.schedule: Schedule = schedule
        self._front: deque[Job] = deque()
        # submitter -> batch id -> jobs (insertion order is arrival order)
        self._by_submitter: OrderedDict[str, OrderedDict[str, list[Job]]] = OrderedDict()
        self._last_served: dict[str, int] = {}
        self._tick = 0
        self._nonempty = asyncio.Event()
        self._changed = asyncio.Event()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, job_id: object) -> bool:
        return any(job.id == job_id for job in self._iter_all())

    def push(self, job: Job, *, front: bool = False) -> None:
        """Enqueue `job`; `front` is for requeues and bypasses the size bound."""
        if front:
            self._front.append(job)
        else:
            if self._size >= self.max_size:
                raise QueueFull(self._size)
            batches = self._by_submitter.setdefault(job.submitter, OrderedDict())
            batches.setdefault(job.batch_id, []).append(job)
        self._size += 1
        self._nonempty.set()
        self._notify()

    def remove(self, job_id: str) -> Job | None:
        """Take a waiting job out (cancel); None if it is not waiting."""
        for index, job in enumerate(self._front):
            if job.id == job_id:
                del self._front[index]
                self._after_pop()
                return job
        for submitter, batches in self._by_submitter.items():
            for batch_id, jobs in batches.items():
                for index, job in enumerate(jobs):
                    if job.id == job_id:
                        del jobs[index]
                        self._prune(submitter, batch_id)
                        self._after_pop()
                        return job
        return None

    def order(self) -> list[Job]:
        """The order in which `get()` would hand out the waiting jobs."""
        result = list(self._front)
        state = OrderedDict(
            (s, OrderedDict((b, list(js)) for b, js in batches.items()))
            for s, batches in self._by_submitter.items()
        )
        served = dict(self._last_served)
        tick = self._tick
        while state:
            submitter = min(state, key=lambda s: served.get(s, -1))
            batches = state[submitter]
            result.append(self._take(batches))
            tick += 1
            served[submitter] = tick
            if not batches:
                del state[submitter]
        return result

    def peek(self) -> Job | None:
        """The job `pop_nowait()` would return, left in place."""
        if self._front:
            return self._front[0]
        if not self._by_submitter:
            return None
        batches = self._by_submitter[self._next_submitter()]
        jobs = next(iter(batches.values()))
        if self.schedule == "shortest":
            return min(jobs, key=lambda j: j.duration)
        return jobs[0]

    def position(self, job_id: str) -> int | None:
        """0 = next to run; None when the job is not waiting."""
        for index, job in enumerate(self.order()):
            if job.id == job_id:
                return index
        return None

    def pop_nowait(self) -> Job | None:
        if self._front:
            job = self._front.popleft()
            self._after_pop()
            return job
        if not self._by_submitter:
            return None
        submitter = self._next_submitter()
        batches = self._by_submitter[submitter]
        job = self._take(batches)
        self._tick += 1
        self._last_served[submitter] = self._tick
        if not batches:
            del self._by_submitter[submitter]
        self._after_pop()
        return job

    async def wait_nonempty(self) -> None:
        while not self._size:
            self._nonempty.clear()
            await self._nonempty.wait()

    async def wait_changed(self) -> None:
        """Return after the next push or removal."""
        self._changed.clear()
        await self._changed.wait()

    async def get(self) -> Job:
        """Wait for and take the next job by the fairness rules."""
        while True:
            job = self.pop_nowait()
            if job is not None:
                return job
            self._nonempty.clear()
            await self._nonempty.wait()

    # ---- helpers -------------------------------------------------------------

    def _next_submitter(self) -> str:
        """Served longest ago first; newcomers (never served) before everyone."""
        return min(self._by_submitter, key=lambda s: self._last_served.get(s, -1))

    def _notify(self) -> None:
        self._changed.set()

    def _take(self, batches: OrderedDict[str, list[Job]]) -> Job:
        batch_id, jobs = next(iter(batches.items()))
        if self.schedule == "shortest":
            index = min(range(len(jobs)), key=lambda i: (jobs[i].duration, i))
        else:
            index = 0
        job = jobs.pop(index)
        if not jobs:
            del batches[batch_id]
        return job

    def _prune(self, submitter: str, batch_id: str) -> None:
        batches = self._by_submitter[submitter]
        if not batches[batch_id]:
            del batches[batch_id]
        if not batches:
            del self._by_submitter[submitter]

    def _after_pop(self) -> None:
        self._size -= 1
        if self._size == 0:
            self._nonempty.clear()
        self._notify()

    def _iter_all(self) -> list[Job]:
        jobs = list(self._front)
        for batches in self._by_submitter.values():
            for batch in batches.values():
                jobs.extend(batch)
        return jobs
