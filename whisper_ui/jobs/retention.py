"""Deleting jobs with their files: on request, after `retention_days`, and half-received
uploads (a client that hung up, or a process that died).

A job's files are its staged upload (`<data_dir>/uploads/<random>/<name>`) and its
exports (`<data_dir>/exports/<job id>/`). The dispatcher forgets the job (lifecycle);
this module removes what it leaves on disk.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from whisper_ui.domain import TERMINAL, Job
from whisper_ui.jobs.dispatcher import Dispatcher

SWEEP_EVERY_S = 3600.0
PARTIAL_SWEEP_EVERY_S = 300.0
# An upload still arriving writes its file all the time; one this long untouched is dead.
PARTIAL_IDLE_S = 900.0


class Retention:
    def __init__(
        self,
        dispatcher: Dispatcher,
        data_dir: Path,
        retention_days: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dispatcher = dispatcher
        self._data_dir = data_dir
        self._days = retention_days
        self._clock = clock

    def delete(self, job_id: str) -> Job:
        """Forget a finished job and remove its staged upload and its exports.

        Raises KeyError (unknown) or JobStateError (still queued or running).
        """
        job = self._dispatcher.forget(job_id)
        uploads = (self._data_dir / "uploads").resolve()
        folder = Path(job.path).resolve().parent
        registry = self._dispatcher.registry
        still_used = any(j.path == job.path for j in registry.jobs())  # a retry
        if folder.parent == uploads and not still_used:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self._data_dir / "exports" / job.id, ignore_errors=True)
        return job

    def sweep(self, now: float | None = None) -> list[str]:
        """Delete finished jobs older than retention_days; returns their ids."""
        if self._days <= 0:
            return []
        cutoff = (self._clock() if now is None else now) - self._days * 86400
        old = [
            j.id
            for j in self._dispatcher.registry.jobs()
            if j.status in TERMINAL and (j.finished_at or j.created_at) < cutoff
        ]
        for job_id in old:
            self.delete(job_id)
        return old

    async def sweep_forever(self) -> None:
        while True:
            self.sweep()
            await asyncio.sleep(SWEEP_EVERY_S)

    def partial_uploads(self) -> list[Path]:
        """Files of uploads not (yet) received whole: the API's `uploads/.incoming-*` and
        the `tmp*` files Gradio's parser writes straight into its cache dir (a finished
        Gradio upload is renamed into `gradio-tmp/<hash>/<name>`)."""
        found = list((self._data_dir / "uploads").glob(".incoming-*"))
        found += [p for p in (self._data_dir / "gradio-tmp").glob("tmp*") if p.is_file()]
        return found

    def drop_partial_uploads_sync(self, min_idle_s: float = 0.0) -> list[Path]:
        """Delete partial uploads untouched for `min_idle_s` (0: all, as at start, before
        any request can be arriving); returns what was deleted."""
        now = self._clock()
        dropped = []
        for path in self.partial_uploads():
            try:
                if min_idle_s <= 0 or now - path.stat().st_mtime >= min_idle_s:
                    path.unlink()
                    dropped.append(path)
            except FileNotFoundError:  # finished (renamed) or swept meanwhile
                continue
        return dropped

    async def drop_partial_uploads(self, min_idle_s: float = 0.0) -> list[Path]:
        return await asyncio.to_thread(self.drop_partial_uploads_sync, min_idle_s)

    async def drop_partial_uploads_forever(self) -> None:
        """A client that hangs up mid-upload leaves its part behind: sweep them often, so
        repeated aborts cannot fill the disk."""
        while True:
            await asyncio.sleep(PARTIAL_SWEEP_EVERY_S)
            await self.drop_partial_uploads(PARTIAL_IDLE_S)
