"""Builds the engine and job objects from Settings; shared by app.py and cli.py.

This is composition only: it creates objects and hands each its collaborators,
so the rest of the code never reads settings or constructs its own dependencies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_ui import audio
from whisper_ui.config import Settings
from whisper_ui.domain import TERMINAL, Job, JobEvent, JobStatus, TranscribeOptions, Transcript
from whisper_ui.engine.batcher import BatchSettings, transcribe_batched
from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.loader import WhisperLoader
from whisper_ui.engine.planner import (
    Footprint,
    PlannerSettings,
    PoolPlan,
    estimate_footprint,
)
from whisper_ui.engine.pool import Lease, Loader, ModelPool, ModelSpec, PoolConfig
from whisper_ui.engine.resources import DeviceInfo, ResourceProbe, SystemProbe, cuda_usable
from whisper_ui.engine.transcriber import Resume
from whisper_ui.jobs.dispatcher import Dispatcher, OptionsError, transcribe_file
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue
from whisper_ui.jobs.store import JobStore
from whisper_ui.memory import limit_malloc_arenas


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalog: ModelCatalog
    probe: ResourceProbe
    pool: ModelPool
    queue: JobQueue
    bus: EventBus
    dispatcher: Dispatcher
    store: JobStore | None = None
    _tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)

    def default_options(self, **changes: Any) -> TranscribeOptions:
        """Per-job options from the settings' defaults, overridden by `changes`."""
        base = TranscribeOptions(
            model=self.settings.model,
            language=self.settings.language,
            task=self.settings.task,
            beam_size=self.settings.beam_size,
            vad_filter=self.settings.vad_filter,
            word_timestamps=self.settings.word_timestamps,
        )
        return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})

    def plan(self, model: str | None = None) -> PoolPlan:
        return self.pool.plan_for(ModelSpec(model or self.settings.model))

    def status(self) -> dict[str, Any]:
        """Devices, pool and queue as plain data: the UI's resources panel and /api/resources."""
        resources = self.probe.snapshot()
        pool = self.pool.snapshot()
        plan = self.pool.plan_for(ModelSpec(self.settings.model), resources)
        slots = pool.slots or plan.total_workers
        return {
            "devices": [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "name": d.name,
                    "total_bytes": d.total_bytes,
                    "free_bytes": d.free_bytes,
                    "physical_cores": d.physical_cores,
                    "logical_cores": d.logical_cores,
                    "utilization_pct": d.utilization_pct,
                    "temperature_c": d.temperature_c,
                }
                for d in resources.devices
            ],
            "gpu_note": resources.gpu_note,
            "pool": {
                "instances": [dataclasses.asdict(i) for i in pool.instances],
                "capacity": pool.capacity,
                "slots": slots,
                "busy": pool.busy,
                "idle": max(0, slots - pool.busy),
                "plan": [
                    {
                        "device": p.device.id,
                        "workers": p.workers,
                        "cpu_threads": p.cpu_threads,
                        "compute_type": p.compute_type,
                        "limited_by": p.limited_by,
                    }
                    for p in plan.placements
                ],
                "plan_notes": list(plan.notes),
                "waiting_for_slot": pool.waiting,
                "oom_caps": pool.oom_caps,
            },
            "queue": {
                "queued": len(self.queue),
                "running": self.dispatcher.count(JobStatus.RUNNING),
                "max": self.queue.max_size,
            },
        }

    def delete_job(self, job_id: str) -> Job:
        """Forget a finished job and remove its staged upload and its exports.

        Raises KeyError (unknown) or JobStateError (still queued or running).
        """
        job = self.dispatcher.forget(job_id)
        data_dir = self.settings.resolved_data_dir
        uploads = (data_dir / "uploads").resolve()
        folder = Path(job.path).resolve().parent
        still_used = any(j.path == job.path for j in self.dispatcher.jobs())  # a retry
        if folder.parent == uploads and not still_used:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(data_dir / "exports" / job.id, ignore_errors=True)
        return job

    def sweep(self, now: float | None = None) -> list[str]:
        """Delete finished jobs older than retention_days; returns their ids."""
        days = self.settings.retention_days
        if days <= 0:
            return []
        cutoff = (time.time() if now is None else now) - days * 86400
        old = [
            j.id
            for j in self.dispatcher.jobs()
            if j.status in TERMINAL and (j.finished_at or j.created_at) < cutoff
        ]
        for job_id in old:
            self.delete_job(job_id)
        return old

    async def _sweep_forever(self) -> None:
        while True:
            self.sweep()
            await asyncio.sleep(3600)

    async def start(self) -> None:
        """Take back saved jobs (if persistent), then start the pool and the dispatcher."""
        if self.store is not None:
            # Half-received uploads of a process that died are of no use to anyone.
            uploads = self.settings.resolved_data_dir / "uploads"
            for partial in await asyncio.to_thread(lambda: list(uploads.glob(".incoming-*"))):
                partial.unlink(missing_ok=True)
            saved = await asyncio.to_thread(self.store.load)
            self.dispatcher.restore([(s.job, s.segments, s.info) for s in saved])
            self._tasks.append(asyncio.get_running_loop().create_task(self._sweep_forever()))
        self.pool.start()
        self.dispatcher.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.dispatcher.stop()
        await self.pool.close()
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


def options_validator(catalog: ModelCatalog) -> Callable[[TranscribeOptions], None]:
    """Returns a callable that raises OptionsError for options that can never work."""

    def validate(options: TranscribeOptions) -> None:
        english_only = catalog.is_english_only(options.model)
        if options.task == "translate" and english_only:
            raise OptionsError(
                f"model '{options.model}' is English-only and cannot translate; "
                "choose a multilingual model (e.g. base)"
            )
        if english_only and options.language not in (None, "en"):
            raise OptionsError(
                f"model '{options.model}' is English-only; language '{options.language}' "
                "needs a multilingual model (e.g. base)"
            )
        if not 1 <= options.beam_size <= 20:
            raise OptionsError(f"beam size must be between 1 and 20, not {options.beam_size}")
        if options.task not in ("transcribe", "translate"):
            raise OptionsError(f"task must be transcribe or translate, not {options.task!r}")

    return validate


def batching_enabled(setting: str, kind: str) -> bool:
    """Whether jobs on a `kind` device share batched encode/generate calls (engine/batcher).

    `auto` batches on CUDA only. On a GPU one chunk leaves most of the device idle, and
    batching is how faster-whisper's own benchmark gets 3.7x (large-v2 fp16, beam 5,
    batch 8; its README). On CPU it was measured here (README "## Throughput",
    bench/batch_scaling.py): on the 2-core Zen 3 this project runs on, a batch of 8
    chunks costs as much per chunk as 8 calls of one (the encoder is already one large
    matrix per chunk), so batching buys nothing but latency: the first segment of two
    jobs started together waits for both. `on` forces it (CPUs where
    bench/batch_scaling.py shows a per-chunk saving), `off` never batches.
    """
    if setting == "auto":
        return kind == "cuda"
    return setting == "on"


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
    catalog = catalog or ModelCatalog(settings.resolved_model_cache_dir)
    probe = probe or SystemProbe()

    def batching(kind: str) -> bool:
        return batching_enabled(settings.batch, kind)

    def footprint(model: str, device: DeviceInfo, compute_type: str) -> Footprint:
        return estimate_footprint(
            catalog.params_for(model),
            compute_type,
            device.kind,
            beam_size=settings.beam_size,
            batch_size=settings.max_batch_size if batching(device.kind) else 1,
        )

    def worker(
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Callable[[JobEvent], None],
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        """Batched worker where batching is on for the lease's device, else the plain one."""
        if not batching(lease.device.kind):
            return transcribe_file(job, lease, resume, emit, should_cancel)
        runners = int(getattr(lease.model.model, "num_workers", 1))
        if lease.device.kind == "cpu":  # never more concurrent batches than cores allow
            cores = lease.device.physical_cores or lease.device.logical_cores or 1
            runners = min(runners, max(1, cores // max(1, lease.cpu_threads)))
        samples = audio.decode(job.path, name=job.name)
        return transcribe_batched(
            lease.model,
            samples,
            job.options,
            job_id=job.id,
            emit=emit,
            should_cancel=should_cancel,
            settings=BatchSettings(
                max_batch_size=settings.max_batch_size,
                max_wait_ms=settings.batch_max_wait_ms,
                runners=max(1, runners),
            ),
            resume=resume,
            source_name=job.name,
        )

    pool = ModelPool(
        probe,
        loader or WhisperLoader(catalog),
        footprint,
        PoolConfig(
            planner=planner_settings(settings),
            compute_type=settings.compute_type,
            idle_ttl_s=settings.idle_ttl_s,
        ),
        cuda_ok=cuda_usable() if cuda_ok is None else cuda_ok,
    )
    queue = JobQueue(settings.max_queue, settings.schedule)
    bus = EventBus()
    store = JobStore(settings.resolved_data_dir / "jobs.sqlite3") if persist else None
    dispatcher = Dispatcher(
        pool,
        queue,
        bus,
        max_duration_s=settings.max_duration_s,
        oom_retries=settings.oom_retries,
        validate=options_validator(catalog),
        journal=store,
        worker=worker if settings.batch != "off" else None,  # None: the plain worker
    )
    return Services(settings, catalog, probe, pool, queue, bus, dispatcher, store)
