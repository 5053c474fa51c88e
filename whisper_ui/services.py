"""Builds the engine and job objects from Settings; shared by app.py and cli.py.

This is composition only: it creates objects and hands each its collaborators,
so the rest of the code never reads settings or constructs its own dependencies.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whisper_ui.config import Settings
from whisper_ui.domain import TranscribeOptions
from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.loader import WhisperLoader
from whisper_ui.engine.planner import (
    Footprint,
    PlannerSettings,
    PoolPlan,
    estimate_footprint,
)
from whisper_ui.engine.pool import Loader, ModelPool, ModelSpec, PoolConfig
from whisper_ui.engine.resources import DeviceInfo, ResourceProbe, SystemProbe, cuda_usable
from whisper_ui.jobs.dispatcher import Dispatcher, OptionsError
from whisper_ui.jobs.events import EventBus
from whisper_ui.jobs.queue import JobQueue
from whisper_ui.jobs.store import JobStore


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
        jobs = self.dispatcher.jobs()
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
                "running": sum(1 for j in jobs if j.status.value == "running"),
                "max": self.queue.max_size,
            },
        }

    async def start(self) -> None:
        """Take back saved jobs (if persistent), then start the pool and the dispatcher."""
        if self.store is not None:
            saved = await asyncio.to_thread(self.store.load)
            self.dispatcher.restore([(s.job, s.segments, s.info) for s in saved])
        self.pool.start()
        self.dispatcher.start()

    async def stop(self) -> None:
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


def build_services(
    settings: Settings,
    *,
    probe: ResourceProbe | None = None,
    loader: Loader | None = None,
    catalog: ModelCatalog | None = None,
    persist: bool = False,
) -> Services:
    """Wire the engine and jobs; `persist` keeps jobs in <data_dir>/jobs.sqlite3 (server)."""
    catalog = catalog or ModelCatalog(settings.resolved_model_cache_dir)
    probe = probe or SystemProbe()

    def footprint(model: str, device: DeviceInfo, compute_type: str) -> Footprint:
        return estimate_footprint(
            catalog.params_for(model), compute_type, device.kind, beam_size=settings.beam_size
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
        cuda_ok=cuda_usable(),
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
    )
    return Services(settings, catalog, probe, pool, queue, bus, dispatcher, store)
