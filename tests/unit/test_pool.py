"""ModelPool scheduling with a fake probe, a fake loader and an injected clock."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import until
from whisper_ui.engine.errors import CapacityLost, DeviceUnusable, ModelLoadError, PoolError
from whisper_ui.engine.planner import Footprint, Placement, PlannerSettings
from whisper_ui.engine.pool import Lease, ModelPool, ModelSpec, PoolConfig
from whisper_ui.engine.resources import DeviceInfo, Resources

GiB = 2**30
MiB = 2**20
SPEC = ModelSpec("tiny.en")


class FakeProbe:
    """Resources the test changes between decisions, like another process would."""

    def __init__(self, *devices: DeviceInfo) -> None:
        self.devices = list(devices)
        self.calls = 0

    def snapshot(self) -> Resources:
        self.calls += 1
        return Resources(tuple(self.devices))

    def set_free(self, device_id: str, free: int) -> None:
        self.devices = [
            replace(d, free_bytes=free) if d.id == device_id else d for d in self.devices
        ]


class FakeLoader:
    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.loads: list[tuple[str, str, int]] = []
        self.unloads: list[Any] = []
        self.fail = fail
        self.gate = gate

    def load(self, model: str, placement: Placement) -> Any:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise RuntimeError("model.bin is damaged")
        self.loads.append((model, placement.device.id, placement.workers))
        return {"model": model, "device": placement.device.id}

    def unload(self, model: Any) -> None:
        self.unloads.append(model)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cpu(cores: int = 2, free: int = 16 * GiB) -> DeviceInfo:
    return DeviceInfo(
        "cpu", 0, "Test CPU", 24 * GiB, free, physical_cores=cores, logical_cores=cores
    )


def gpu(index: int, free: int, total: int = 24 * GiB) -> DeviceInfo:
    return DeviceInfo("cuda", index, f"Fake GPU {index}", total, free)


def footprint(_model: str, _device: DeviceInfo, _compute: str) -> Footprint:
    return Footprint(weights_bytes=1 * GiB, worker_bytes=1 * GiB)


# Margins off so capacity arithmetic in the tests is plain: workers = (free - 1 GiB) // 1 GiB.
PLAIN = PlannerSettings(
    safety_margin_bytes=0, safety_fraction=0.0, cuda_context_bytes=0, max_workers_per_gpu=8
)


def make_pool(
    probe: FakeProbe,
    loader: FakeLoader | None = None,
    *,
    clock: Clock | None = None,
    cuda: bool = False,
    **config: Any,
) -> tuple[ModelPool, FakeLoader]:
    loader = loader or FakeLoader()
    cfg = PoolConfig(planner=config.pop("planner", PLAIN), recheck_s=0.05, **config)
    return ModelPool(probe, loader, footprint, cfg, cuda_ok=cuda, clock=clock or Clock()), loader


async def hold(pool: ModelPool, spec: ModelSpec, release: asyncio.Event, got: list[Lease]) -> None:
    async with pool.lease(spec) as lease:
        got.append(lease)
        await release.wait()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_two_cores_two_slots_one_model_the_third_waits() -> None:
    pool, loader = make_pool(FakeProbe(cpu(cores=2)))
    release = asyncio.Event()
    got: list[Lease] = []
    tasks = [asyncio.create_task(hold(pool, SPEC, release, got)) for _ in range(3)]
    await settle()
    assert len(got) == 2, "two workers on two cores"
    assert loader.loads == [("tiny.en", "cpu", 2)], "weights loaded once, with 2 workers"
    assert got[0].model is got[1].model
    assert got[0].cpu_threads == 1
    snap = pool.snapshot()
    assert snap.busy == 2 and snap.waiting == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert len(got) == 3 and pool.snapshot().busy == 0


async def test_concurrency_one_gives_one_worker_with_all_threads() -> None:
    pool, loader = make_pool(FakeProbe(cpu(cores=2)), planner=replace(PLAIN, concurrency=1))
    async with pool.lease(SPEC) as lease:
        assert lease.cpu_threads == 2
    assert loader.loads == [("tiny.en", "cpu", 1)]


async def test_idle_instances_unload_after_ttl_and_never_while_busy() -> None:
    clock = Clock()
    pool, loader = make_pool(FakeProbe(cpu()), clock=clock, idle_ttl_s=60)
    async with pool.lease(SPEC):
        clock.now += 1000
        assert await pool.reap() == [], "busy instances stay"
    clock.now += 59
    assert await pool.reap() == []
    clock.now += 2
    removed = await pool.reap()
    assert [k.model for k in removed] == ["tiny.en"]
    assert len(loader.unloads) == 1 and pool.snapshot().instances == ()
    async with pool.lease(SPEC):
        pass
    assert len(loader.loads) == 2, "a later job loads the model again"


async def test_reap_and_lease_race_never_hands_out_an_unloaded_model() -> None:
    clock = Clock()
    pool, loader = make_pool(FakeProbe(cpu()), clock=clock, idle_ttl_s=1)
    async with pool.lease(SPEC):
        pass
    clock.now += 5

    async def use() -> Any:
        async with pool.lease(SPEC) as lease:
            return lease.model

    model, _ = await asyncio.gather(use(), pool.reap())
    assert model is not None
    assert all(m is not model for m in loader.unloads) or len(loader.loads) == 2


async def test_out_of_memory_lowers_capacity_until_the_cooldown() -> None:
    clock = Clock()
    probe = FakeProbe(gpu(0, free=5 * GiB))  # (5 - 1) // 1 = 4 workers
    pool, _ = make_pool(probe, clock=clock, cuda=True, oom_cooldown_s=100)
    release = asyncio.Event()
    got: list[Lease] = []
    tasks = [asyncio.create_task(hold(pool, SPEC, release, got)) for _ in range(3)]
    await settle()
    assert len(got) == 3
    assert pool.report_oom(got[0]) == 2, "three were running: cap drops to two"
    release.set()
    await asyncio.gather(*tasks)
    release2 = asyncio.Event()
    got2: list[Lease] = []
    tasks = [asyncio.create_task(hold(pool, SPEC, release2, got2)) for _ in range(3)]
    await settle()
    assert len(got2) == 2 and pool.snapshot().oom_caps == {"cuda:0": 2}
    clock.now += 101  # cooldown over: the next decision may use the full plan again
    await until(lambda: len(got2) == 3, 5, "a third lease after the cooldown")
    release2.set()
    await asyncio.gather(*tasks)


async def test_oom_with_one_running_keeps_one_slot() -> None:
    pool, _ = make_pool(FakeProbe(gpu(0, free=5 * GiB)), cuda=True)
    async with pool.lease(SPEC) as lease:
        assert pool.report_oom(lease) == 1


async def test_replans_when_another_process_takes_and_frees_gpu_memory() -> None:
    probe = FakeProbe(gpu(0, free=3 * GiB))  # 2 workers
    pool, _ = make_pool(probe, cuda=True)
    release = asyncio.Event()
    got: list[Lease] = []
    first = asyncio.create_task(hold(pool, SPEC, release, got))
    await settle()
    assert len(got) == 1
    # Our model now holds 1 GiB weights + 1 GiB worker; someone else takes the rest.
    probe.set_free("cuda:0", 0)
    second = asyncio.create_task(hold(pool, SPEC, release, got))
    await settle()
    assert len(got) == 1, "no memory for a second worker now"
    probe.set_free("cuda:0", 1 * GiB)  # freed again: the periodic re-check admits it
    await until(lambda: len(got) == 2, 5, "the re-check admitting a second lease")
    release.set()
    await asyncio.gather(first, second)


async def test_leases_spread_over_gpus_with_one_instance_each() -> None:
    probe = FakeProbe(gpu(0, free=3 * GiB), gpu(1, free=3 * GiB))
    pool, loader = make_pool(probe, cuda=True)
    release = asyncio.Event()
    got: list[Lease] = []
    tasks = [asyncio.create_task(hold(pool, SPEC, release, got)) for _ in range(4)]
    await settle()
    assert len(got) == 4
    assert sorted(d for _, d, _ in loader.loads) == ["cuda:0", "cuda:1"]
    assert sorted(lease.device.id for lease in got) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    release.set()
    await asyncio.gather(*tasks)


async def test_model_that_fits_nowhere_fails_clearly_when_nothing_runs() -> None:
    pool, _ = make_pool(FakeProbe(cpu(free=512 * MiB)))
    with pytest.raises(PoolError, match="cannot run on this machine"):
        async with pool.lease(SPEC):
            pass


async def test_a_failed_load_fails_every_waiter_and_is_retried_later() -> None:
    gate = threading.Event()
    loader = FakeLoader(fail=True, gate=gate)
    pool, _ = make_pool(FakeProbe(cpu()), loader)

    async def use() -> None:
        async with pool.lease(SPEC):
            pass

    tasks = [asyncio.create_task(use()) for _ in range(2)]
    await settle()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ModelLoadError) and "damaged" in str(r) for r in results)
    assert pool.snapshot().instances == () and pool.snapshot().busy == 0
    loader.fail = False
    async with pool.lease(SPEC) as lease:
        assert lease.model["model"] == "tiny.en"


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    pool, _ = make_pool(FakeProbe(cpu(cores=1)))
    release = asyncio.Event()
    got: list[Lease] = []
    holder = asyncio.create_task(hold(pool, SPEC, release, got))
    await settle()
    waiter = asyncio.create_task(hold(pool, SPEC, asyncio.Event(), got))
    await settle()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert pool.snapshot().waiting == 0
    release.set()
    await holder
    assert pool.snapshot().busy == 0
    async with pool.lease(SPEC):
        assert pool.snapshot().busy == 1


async def test_two_models_share_the_cpu_cores() -> None:
    pool, loader = make_pool(FakeProbe(cpu(cores=2)))
    release = asyncio.Event()
    got: list[Lease] = []
    tasks = [
        asyncio.create_task(hold(pool, ModelSpec("tiny.en"), release, got)),
        asyncio.create_task(hold(pool, ModelSpec("base"), release, got)),
        asyncio.create_task(hold(pool, ModelSpec("base"), release, got)),
    ]
    await settle()
    assert len(got) == 2, "two cores: two workers in all, whichever model"
    release.set()
    await asyncio.gather(*tasks)
    assert {m for m, _, _ in loader.loads} == {"tiny.en", "base"}


async def test_a_measured_plan_replaces_the_rule_and_an_idle_instance_reloads_for_it() -> None:
    measured: dict[str, tuple[int, int]] = {}
    loader = FakeLoader()
    pool = ModelPool(
        FakeProbe(cpu(cores=2)),
        loader,
        footprint,
        PoolConfig(planner=PLAIN, recheck_s=0.05),
        clock=Clock(),
        measured=lambda model, _compute: measured.get(model),
    )
    async with pool.lease(SPEC) as lease:
        assert lease.cpu_threads == 1  # the rule: a worker per core
    measured["tiny.en"] = (1, 2)  # a calibration found one worker with both threads faster
    (placement,) = pool.plan_for(SPEC).placements
    assert (placement.workers, placement.cpu_threads, placement.limited_by) == (1, 2, "measured")
    async with pool.lease(SPEC) as lease:
        assert lease.cpu_threads == 2
    assert loader.loads == [("tiny.en", "cpu", 2), ("tiny.en", "cpu", 1)]
    assert pool.plan_for(ModelSpec("base")).placements[0].limited_by == "cores"


class BrokenCudaLoader(FakeLoader):
    """CTranslate2 cannot run on any GPU (its CUDA libraries are missing); the CPU works."""

    def load(self, model: str, placement: Placement) -> Any:
        if placement.device.kind == "cuda":
            raise DeviceUnusable(placement.device.id, "Library libcublas.so.12 is not found")
        return super().load(model, placement)


async def test_a_gpu_that_cannot_run_models_is_left_out_and_jobs_go_to_the_cpu() -> None:
    pool, loader = make_pool(
        FakeProbe(cpu(cores=2), gpu(0, free=8 * GiB)), BrokenCudaLoader(), cuda=True
    )
    assert [p.device.id for p in pool.plan_for(SPEC).placements] == ["cuda:0"]
    with pytest.raises(CapacityLost, match="cuda:0 cannot run models: Library libcublas"):
        async with pool.lease(SPEC):
            pass
    plan = pool.plan_for(SPEC)
    assert [p.device.id for p in plan.placements] == ["cpu"]
    assert plan.notes[0].startswith("cuda:0 (Fake GPU 0) cannot run models: Library libcublas")
    assert pool.snapshot().unusable == {"cuda:0": "Library libcublas.so.12 is not found"}
    async with pool.lease(SPEC) as lease:
        assert lease.key.device == "cpu"
    assert loader.loads == [("tiny.en", "cpu", 2)]


async def test_a_damaged_model_still_fails_its_jobs_and_leaves_the_gpu_in_the_plan() -> None:
    pool, _ = make_pool(FakeProbe(cpu(), gpu(0, free=8 * GiB)), FakeLoader(fail=True), cuda=True)
    with pytest.raises(ModelLoadError, match="damaged"):
        async with pool.lease(SPEC):
            pass
    assert [p.device.id for p in pool.plan_for(SPEC).placements] == ["cuda:0"]
    assert pool.snapshot().unusable == {}
