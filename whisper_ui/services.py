"""Builds the engine and job objects from Settings; shared by app.py and cli.py.

Wiring only: it creates objects, hands each its collaborators and starts and stops
them, so the rest of the code never reads settings or constructs its own dependencies.
What the objects do lives in their own modules (engine/runner.py runs a job,
jobs/retention.py deletes old ones, engine/status.py describes the devices).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from whisper_ui.config import MODELS_FILE, Settings
from whisper_ui.domain import Job, JobStatus, TranscribeOptions
from whisper_ui.engine.batcher import BatchSettings
from whisper_ui.engine.calibrate import (
    Calibration,
    CalibrationError,
    CalibrationKey,
    Calibrations,
    Measurement,
    calibrate,
    calibrate_when_idle,
    cpu_isa,
    cpu_quiet,
    load_cached,
    save,
)
from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.loader import WhisperLoader
from whisper_ui.engine.planner import (
    Footprint,
    PlannerSettings,
    PoolPlan,
    estimate_footprint,
    resolve_compute_type,
)
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

log = logging.getLogger(__name__)


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
    # This CPU's measured plans (engine/calibrate.py); None when the settings fix them.
    calibrations: Calibrations | None = None
    auto_calibrate: bool = False  # serve: calibrate once in the background when idle
    runner: JobRunner | None = None  # how the local pool's jobs run (None: the cluster's)
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
        if self.auto_calibrate and self._needs_calibration():
            task = asyncio.get_running_loop().create_task(self._calibrate_in_background())
            self._tasks.append(task)

    def calibration_key(self) -> CalibrationKey:
        return calibration_key(self.settings, self.probe)

    def calibrate(
        self,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[Measurement], None] | None = None,
    ) -> Calibration:
        """Time this CPU with the default model, cache the result and plan with it
        (blocking: `devices --calibrate`, or a thread). CalibrationError says why not."""
        blocked = calibration_blocked(self.settings)
        if blocked or self.calibrations is None:
            raise CalibrationError(f"not calibrating: {blocked}")
        key = self.calibration_key()
        try:
            path = str(self.catalog.resolve(self.settings.model).path)
        except Exception as exc:
            raise CalibrationError(f"model '{self.settings.model}': {exc}") from exc
        cal = calibrate(
            path, key, beam=self.settings.beam_size, should_stop=should_stop, progress=progress
        )
        save(self.settings.resolved_data_dir, cal)
        self.calibrations.put(cal)
        return cal

    def _needs_calibration(self) -> bool:
        if self.calibrations is None or calibration_blocked(self.settings):
            return False
        key = self.calibration_key()
        if self.calibrations.get(key.model, key.compute_type) is not None:
            return False
        return any(p.device.kind == "cpu" for p in self.plan().placements)

    def _busy(self) -> bool:
        return len(self.queue) > 0 or self.registry.count(JobStatus.RUNNING) > 0

    async def _calibrate_in_background(self) -> None:
        cores = self.calibration_key().cores
        cal = await calibrate_when_idle(
            lambda stop: self.calibrate(stop), self._busy, quiet=lambda: cpu_quiet(cores)
        )
        if cal is not None and self.calibrations is not None:
            choice = self.calibrations.choice(cal.key.model, cal.key.compute_type)
            log.info(
                "calibrated %s in %.0f s: %s",
                cal.key.text,
                cal.seconds,
                choice.measurement.mode.label if choice else "no choice",
            )

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


def calibration_blocked(settings: Settings) -> str | None:
    """Why a calibration must not plan (or run): the settings fix workers or threads, or
    the jobs run elsewhere; None when it may."""
    if settings.concurrency is not None:
        return f"concurrency is set ({settings.concurrency})"
    if settings.cpu_threads_per_worker is not None:
        return f"cpu_threads_per_worker is set ({settings.cpu_threads_per_worker})"
    if settings.device == "cuda":
        return "device is cuda (a calibration times the CPU)"
    if settings.cluster:
        return "the jobs run on a cluster"
    return None


def calibration_key(settings: Settings, probe: ResourceProbe) -> CalibrationKey:
    cpu = probe.snapshot().cpu
    return CalibrationKey(
        cpu=cpu.name,
        isa=cpu_isa(),
        cores=max(1, cpu.physical_cores or cpu.logical_cores or 1),
        model=settings.model,
        compute_type=resolve_compute_type(settings.compute_type, "cpu"),
    )


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
    calibrations = None
    if calibration_blocked(settings) is None:
        calibrations = Calibrations(settings.batch)
        key = calibration_key(settings, probe)
        cached = load_cached(settings.resolved_data_dir, key)
        if cached is not None:
            calibrations.put(cached)
    pool, runner = local_pool(
        settings, probe, catalog, loader=loader, cuda_ok=cuda_ok, calibrations=calibrations
    )
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
        settings,
        catalog,
        probe,
        pool,
        queue,
        bus,
        registry,
        dispatcher,
        retention,
        store,
        cluster,
        calibrations=calibrations,
        auto_calibrate=persist and settings.auto_calibrate,
        runner=runner,
    )


def local_pool(
    settings: Settings,
    probe: ResourceProbe,
    catalog: ModelCatalog,
    *,
    loader: Loader | None = None,
    cuda_ok: bool | None = None,
    calibrations: Calibrations | None = None,
) -> tuple[ModelPool, JobRunner]:
    """This machine's model pool and job runner: the server's, and each cluster agent's.
    `calibrations` (engine/calibrate.py) replace the rule's CPU plan where they hold."""
    cpu_type = resolve_compute_type(settings.compute_type, "cpu")

    def measured(model: str, compute_type: str) -> tuple[int, int] | None:
        ct = cpu_type if compute_type == "auto" else compute_type
        choice = calibrations.choice(model, ct) if calibrations else None
        return (choice.jobs, choice.threads) if choice else None

    def measured_batch(model: str) -> bool | None:
        choice = calibrations.choice(model, cpu_type) if calibrations else None
        return choice.batch if choice else None

    runner = JobRunner(
        settings.batch,
        BatchSettings(
            max_batch_size=settings.max_batch_size, max_wait_ms=settings.batch_max_wait_ms
        ),
        measured_batch=measured_batch if calibrations else None,
    )

    def footprint(model: str, device: DeviceInfo, compute_type: str) -> Footprint:
        return estimate_footprint(
            catalog.params_for(model),
            compute_type,
            device.kind,
            beam_size=settings.beam_size,
            n_mels=catalog.mels_for(model),
            batch_size=settings.max_batch_size if runner.batches_on(device.kind, model) else 1,
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
        measured=measured if calibrations else None,
    )
    return pool, runner
