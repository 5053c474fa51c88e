"""EventBus: an append-only event log per job, with subscribers that replay history first.

Publishing happens only on the event loop (worker threads hop over with
`call_soon_threadsafe`), so the log needs no lock. A subscriber that joins late gets
every event exactly once and in order, then live events until a terminal one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from whisper_ui.domain import TERMINAL_EVENTS, JobEvent

Listener = Callable[[JobEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._logs: dict[str, list[JobEvent]] = {}
        self._wakeups: dict[str, asyncio.Future[None]] = {}
        self._listeners: list[Listener] = []
        self._forgotten: set[str] = set()

    def publish(self, event: JobEvent) -> None:
        """Append `event` to its job's log and wake everyone waiting on it."""
        self._logs.setdefault(event.job_id, []).append(event)
        waiter = self._wakeups.pop(event.job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        for listener in list(self._listeners):
            listener(event)

    def announce(self, event: JobEvent) -> None:
        """Tell listeners (and `subscribe_all`) about `event` without adding it to its
        job's log: for edits of a finished job (SegmentEdited), which come after the
        terminal event a log ends with; the transcript itself already shows them."""
        for listener in list(self._listeners):
            listener(event)

    def history(self, job_id: str) -> list[JobEvent]:
        return list(self._logs.get(job_id, ()))

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Synchronous listener called for every event (persistence, metrics); returns remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def forget(self, job_id: str) -> None:
        """Drop a job's log (deletion); its subscribers stop instead of waiting forever."""
        self._logs.pop(job_id, None)
        self._forgotten.add(job_id)
        waiter = self._wakeups.pop(job_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def subscribe(self, job_id: str) -> AsyncIterator[JobEvent]:
        """History of `job_id`, then live events, ending after the terminal event."""
        index = 0
        while True:
            if job_id in self._forgotten:
                return
            log = self._logs.get(job_id, [])
            while index < len(log):
                event = log[index]
                index += 1
                yield event
                if isinstance(event, TERMINAL_EVENTS):
                    return
            waiter = self._wakeups.get(job_id)
            if waiter is None or waiter.done():
                waiter = asyncio.get_running_loop().create_future()
                self._wakeups[job_id] = waiter
            await asyncio.shield(waiter)

    async def subscribe_all(self) -> AsyncIterator[JobEvent]:
        """Every event of every job from now on (no history); ends when the consumer stops."""
        inbox: asyncio.Queue[JobEvent] = asyncio.Queue()
        remove = self.add_listener(inbox.put_nowait)
        try:
            while True:
                yield await inbox.get()
        finally:
            remove()
