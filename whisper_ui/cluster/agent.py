"""The agent: one Ray actor per node, owning that node's own model pool.

It is the same ModelPool and JobRunner the single process uses (services.local_pool),
sized by what this node measures: NVML per GPU, its CPU cores (capped by the CPUs the
node gave Ray with `ray start --num-cpus`) and its RAM. The head sends it a job, the
file as object-store chunks and where to resume; it streams the job's events back as
they are decoded (a Ray streaming generator), ending with the Transcript. It keeps no
record: the head's journal is the only one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_ui.config import MODELS_FILE, Settings
from whisper_ui.domain import Job, JobEvent, Resume, Transcript
from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.errors import ModelLoadError, PoolError
from whisper_ui.engine.pool import ModelSpec
from whisper_ui.engine.resources import DeviceInfo, ResourceProbe, Resources, SystemProbe
from whisper_ui.engine.status import describe
from whisper_ui.memory import limit_malloc_arenas
from whisper_ui.services import local_pool


@dataclass(frozen=True)
class Capacity:
    """What one node can run of a model now: its pool's plan, and what went wrong."""

    workers: int  # the plan's total on this node (0: nothing fits)
    device: str  # where the first placement goes ("cpu", "cuda:0")
    loaded: bool  # an instance of the model is loaded there now
    error: str | None = None  # the model failed to load on this node


class NodeProbe:
    """The node's own measurements with its CPU cores capped at what it gave Ray:
    `ray start --num-cpus 2` on an 8-core machine plans for 2 cores."""

    def __init__(self, inner: ResourceProbe, cpus: float | None) -> None:
        self._inner = inner
        self._cores = max(1, int(cpus)) if cpus else None

    def snapshot(self) -> Resources:
        resources = self._inner.snapshot()
        if self._cores is None:
            return resources
        cpu = resources.cpu
        capped = dataclasses.replace(
            cpu,
            physical_cores=min(cpu.physical_cores or self._cores, self._cores),
            logical_cores=min(cpu.logical_cores or self._cores, self._cores),
        )
        devices = tuple(capped if d is cpu else d for d in resources.devices)
        return dataclasses.replace(resources, devices=devices)


_CHUNK_SUFFIX_MAX = 16


class Agent:
    """The actor's class (made remote by cluster/pool when it places one on a node)."""

    def __init__(self, settings: Settings, cpus: float | None = None) -> None:
        limit_malloc_arenas()
        catalog = ModelCatalog.from_file(settings.resolved_model_cache_dir, MODELS_FILE)
        self._settings = settings
        self._probe = NodeProbe(SystemProbe(), cpus)
        self._pool, self._runner = local_pool(settings, self._probe, catalog)
        self._failed: dict[str, str] = {}
        self._stops: dict[str, threading.Event] = {}
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._pool.start()

    async def hello(self) -> dict[str, Any]:
        """Who this agent is: the head names the node by it."""
        self._start()
        import ray

        return {"hostname": socket.gethostname(), "node_id": ray.get_runtime_context().node_id}

    async def capacity(self, model: str) -> Capacity:
        self._start()
        plan = await asyncio.to_thread(self._pool.plan_for, ModelSpec(model))
        loaded = any(i.model == model and not i.loading for i in self._pool.snapshot().instances)
        device = plan.placements[0].device.id if plan.placements else "cpu"
        return Capacity(plan.total_workers, device, loaded, self._failed.get(model))

    async def status(self, model: str) -> dict[str, Any]:
        """The node's devices, pool and plan, as the resources panel shows them."""
        self._start()
        resources = await asyncio.to_thread(self._probe.snapshot)
        plan = self._pool.plan_for(ModelSpec(model), resources)
        status = describe(resources, self._pool.snapshot(), plan)
        status["hostname"] = socket.gethostname()
        status["failed_models"] = dict(self._failed)
        return status

    def cancel(self, job_id: str) -> bool:
        """Stop a running job at its next segment (it ends with TranscriptionCancelled)."""
        stop = self._stops.get(job_id)
        if stop is None:
            return False
        stop.set()
        return True

    async def run(
        self, job: Job, chunks: Sequence[Any], resume: Resume
    ) -> AsyncIterator[JobEvent | Transcript]:
        """Run `job` here: fetch its file, lease a slot, yield its events, then the
        Transcript. Errors (AudioError, ModelLoadError, TranscriptionCancelled) travel
        back to the head as the generator's exception."""
        self._start()
        stop = self._stops[job.id] = threading.Event()
        folder = Path(tempfile.mkdtemp(prefix="whisper-ui-job-"))
        try:
            path = await self._fetch(job, chunks, folder)
            job = dataclasses.replace(job, path=str(path))
            spec = ModelSpec(job.options.model)
            try:
                reservation = await self._pool.reserve(spec)
            except PoolError as exc:
                self._failed[spec.model] = str(exc)
                raise
            try:
                async with self._pool.use(reservation) as lease:
                    async for item in self._stream(job, lease, resume, stop):
                        yield item
            except ModelLoadError as exc:
                self._failed[spec.model] = str(exc)
                raise
        finally:
            self._stops.pop(job.id, None)
            await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _fetch(self, job: Job, chunks: Sequence[Any], folder: Path) -> Path:
        """The upload, chunk by chunk from the object store (one chunk in memory)."""
        suffix = Path(job.name).suffix[:_CHUNK_SUFFIX_MAX]
        path = folder / f"upload{suffix}"
        with path.open("wb") as out:
            for ref in chunks:
                data = await ref
                await asyncio.to_thread(out.write, data)
        return path

    async def _stream(
        self, job: Job, lease: Any, resume: Resume, stop: threading.Event
    ) -> AsyncIterator[JobEvent | Transcript]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[JobEvent] = asyncio.Queue()

        def emit(event: JobEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        work = asyncio.ensure_future(
            asyncio.to_thread(self._runner, job, lease, resume, emit, stop.is_set)
        )
        try:
            while not work.done():
                getting = asyncio.ensure_future(events.get())
                await asyncio.wait({getting, work}, return_when=asyncio.FIRST_COMPLETED)
                if getting.done():
                    yield getting.result()
                else:
                    getting.cancel()
            await asyncio.sleep(0)  # the thread's last call_soon_threadsafe lands first
            while not events.empty():
                yield events.get_nowait()
            yield work.result()
        finally:
            if not work.done():  # the head went away: stop the thread, then let it end
                stop.set()
                await asyncio.wait({work})


def device_of(info: DeviceInfo) -> str:
    return info.id
