"""Builds the engine and job objects from Settings; shared by app.py and cli.py.

Wiring only: it creates objects, hands each its collaborators and starts and stops
them, so the rest of the code never reads settings or constructs its own dependencies.
What the objects do lives in their own modules (engine/runner.py runs a job,
jobs/retention.py deletes old ones, engine/status.py describes the devices).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from whisper_ui.config import MODELS_FILE, Settings
from whisper_ui.domain import Job, JobStatus, TranscribeOptions
from whisper_ui.engine.batcher import BatchSettings
from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.loader import WhisperLoader
from whisper_ui.engine.planner import Footprint, PlannerSettings, PoolPlan, estimate_footprint
from whisper_ui.engine.pool import Loader, ModelPool, ModelSpec, PoolConfig
from whisper_ui.engine.resources import DeviceInfo, ResourceProbe, SystemProbe, cuda_usable
from whisper_ui.engine.runner import JobRunner
from whisper_ui.engine.status import describe
from whisper_ui.jobs.dispatcher import Dispatcher
from whisper_ui.jobs.edits import Edits
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue
from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.jobs.retention import Retention
from whisper_ui.jobs.search import SearchIndex
from whisper_ui.jobs.store import JobStore
from whisper_ui.jobs.voices import SavedVoices
from whisper_ui.memory import limit_malloc_arenas
from whisper_ui.options import OPTIONS

if TYPE_CHECKING:  # Ray only when a cluster is configured
    from whisper_ui.cluster.pool import ClusterPool


@dataclass(frozen=True)
class Services:
    """The objects one process runs on, and their start and stop."""

    settings: Settings
    catalog: ModelCatalog
    probe: ResourceProbe
    pool: ModelPool
    queue: JobQueue
    bus: EventBus
    registry: JobRegistry
    dispatcher: Dispatcher
    retention: Retention
    store: JobStore | None = None
    cluster: ClusterPool | None = None  # the jobs run there when set (--cluster)
    _tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
    # Corrections of finished transcripts (jobs/edits.py), for the API and the page alike.
    edits: Edits = dataclasses.field(init=False)

    # Full-text search over every transcript (jobs/search.py), kept current from the bus.
    search: SearchIndex = dataclasses.field(init=False)

    # A person's saved voices, which name speakers in their later jobs (jobs/voices.py).
    voices: SavedVoices = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "edits", Edits(self.registry, self.bus, self.store))
        object.__setattr__(self, "voices", SavedVoices(self.settings.resolved_data_dir / "voices"))
        object.__setattr__(self, "search", SearchIndex(self.registry))
        self.bus.add_listener(self.search.on_event)

    def default_options(self, **changes: Any) -> TranscribeOptions:
        """Per-job options from the settings' defaults, with every change that is set
        (UNSET changes are dropped; None is a value: language=None detects)."""
        return OPTIONS.build(self.settings.default_options(), changes)

    def plan(self, model: str | None = None) -> PoolPlan:
        return self.pool.plan_for(ModelSpec(model or self.settings.model))

    def status(self) -> dict[str, Any]:
        """Devices, pool and queue as plain data: the UI's resources panel and /api/resources."""
        resources = self.probe.snapshot()
        plan = self.pool.plan_for(ModelSpec(self.settings.model), resources)
        status = describe(resources, self.pool.snapshot(), plan)
        status["queue"] = {
            "queued": len(self.queue),
            "running": self.registry.count(JobStatus.RUNNING),
            "max": self.queue.max_size,
        }
        if self.cluster is not None:
            status["nodes"] = self.cluster.nodes()
        return status

    def delete_job(self, job_id: str) -> Job:
        """Forget a finished job with its files (KeyError, or JobStateError if not finished)."""
        return self.retention.delete(job_id)

    async def start(self) -> None:
        """Take back saved jobs (if persistent), then start the pool and the dispatcher."""
        if self.store is not None:
            await self.retention.drop_partial_uploads()
            saved = await asyncio.to_thread(self.store.load)
            self.registry.load_edits({s.job.id: list(s.edits) for s in saved if s.edits})
            self.registry.load_speaker_names({s.job.id: s.speaker_names for s in saved})
            self.dispatcher.restore([(s.job, s.segments, s.info) for s in saved])
            self.search.rebuild()
            loop = asyncio.get_running_loop()
            self._tasks.append(loop.create_task(self.retention.sweep_forever()))
            self._tasks.append(loop.create_task(self.retention.drop_partial_uploads_forever()))
        if self.cluster is not None:
            await self.cluster.start()  # ClusterError naming the address when unreachable
        self.pool.start()
        self.dispatcher.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.dispatcher.stop()
        await self.pool.close()
        if self.cluster is not None:
            await self.cluster.close()
        if self.store is not None:
            self.store.close()


def planner_settings(settings: Settings) -> PlannerSettings:
    return PlannerSettings(
        device=settings.device,
        max_workers=settings.max_workers,
        max_workers_per_gpu=settings.max_workers_per_gpu,
        concurrency=settings.concurrency,
        cpu_threads_per_worker=settings.cpu_threads_per_worker,
        safety_margin_bytes=settings.safety_margin_mb * 2**20,
        safety_fraction=settings.safety_fraction,
    )


def build_services(
    settings: Settings,
    *,
    probe: ResourceProbe | None = None,
    loader: Loader | None = None,
    catalog: ModelCatalog | None = None,
    persist: bool = False,
    cuda_ok: bool | None = None,
) -> Services:
    """Wire the engine and jobs; `persist` keeps jobs in <data_dir>/jobs.sqlite3 (server).
    `cuda_ok` None asks CTranslate2 whether it can use CUDA (tests with a fake NVML say)."""
    limit_malloc_arenas()  # before any pool thread allocates: see whisper_ui/memory.py
    catalog = catalog or ModelCatalog.from_file(settings.resolved_model_cache_dir, MODELS_FILE)
    probe = probe or SystemProbe()
    pool, runner = local_pool(settings, probe, catalog, loader=loader, cuda_ok=cuda_ok)
    cluster = None
    if settings.cluster:  # Ray is imported only here: see whisper_ui/cluster
        from whisper_ui.cluster.pool import ClusterPool

        cluster = ClusterPool(settings.cluster, settings)
    queue = JobQueue(settings.max_queue, settings.schedule)
    bus = EventBus()
    store = JobStore(settings.resolved_data_dir / "jobs.sqlite3") if persist else None
    registry = JobRegistry()
    dispatcher = Dispatcher(
        cluster if cluster is not None else pool,
        queue,
        bus,
        registry,
        run=cluster.runner() if cluster is not None else runner,
        max_duration_s=settings.max_duration_s,
        oom_retries=settings.oom_retries,
        validate=catalog.check_options,
        journal=store,
    )
    retention = Retention(dispatcher, settings.resolved_data_dir, settings.retention_days)
    return Services(
        settings, catalog, probe, pool, queue, bus, registry, dispatcher, retention, store, cluster
    )


def local_pool(
    settings: Settings,
    probe: ResourceProbe,
    catalog: ModelCatalog,
    *,
    loader: Loader | None = None,
    cuda_ok: bool | None = None,
) -> tuple[ModelPool, JobRunner]:
    """This machine's model pool and job runner: the server's, and each cluster agent's."""
    runner = JobRunner(
        settings.batch,
        BatchSettings(
            max_batch_size=settings.max_batch_size, max_wait_ms=settings.batch_max_wait_ms
        ),
    )

    def footprint(model: str, device: DeviceInfo, compute_type: str) -> Footprint:
        return estimate_footprint(
            catalog.params_for(model),
            compute_type,
            device.kind,
            beam_size=settings.beam_size,
            batch_size=settings.max_batch_size if runner.batches_on(device.kind) else 1,
        )

    pool = ModelPool(
        probe,
        loader or WhisperLoader(catalog, short_encode=settings.short_encode),
        footprint,
        PoolConfig(
            planner=planner_settings(settings),
            compute_type=settings.compute_type,
            idle_ttl_s=settings.idle_ttl_s,
        ),
        cuda_ok=cuda_usable() if cuda_ok is None else cuda_ok,
    )
    return pool, runner
