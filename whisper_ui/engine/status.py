"""Devices and the pool as plain data: the UI's resources panel and GET /api/resources."""

from __future__ import annotations

import dataclasses
from typing import Any

from whisper_ui.engine.planner import PoolPlan
from whisper_ui.engine.pool import PoolSnapshot
from whisper_ui.engine.resources import Resources


def describe(resources: Resources, pool: PoolSnapshot, plan: PoolPlan) -> dict[str, Any]:
    """`plan` is the default model's plan now: it gives the slot count before any load."""
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
            "unusable": pool.unusable,
        },
    }
