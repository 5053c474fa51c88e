"""ModelPool: lends transcription capacity, sized from the memory the machine has now.

A slot is a CTranslate2 worker, not a model copy: an instance is one loaded model per
(model, device, compute type) with `num_workers` fixed at load time, and the pool sizes
itself by *admission*: every decision re-measures free memory, re-plans, and grants a
lease only while the device's busy workers stay under the plan. Counting, checking,
growing and removing all happen under one lock, so an idle instance can never be
unloaded while a lease on it is being granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from whisper_ui.engine.errors import CapacityLost, DeviceUnusable, ModelLoadError, PoolError
from whisper_ui.engine.planner import (
    Footprint,
    Placement,
    PlannerSettings,
    PoolPlan,
    plan_pool,
)
from whisper_ui.engine.resources import DeviceInfo, ResourceProbe, Resources

log = logging.getLogger(__name__)
_NO_CAP = 1 << 30


@dataclass(frozen=True)
class ModelSpec:
    """What a job asks the pool for; `compute_type` "auto" lets the planner choose per device."""

    model: str
    compute_type: str = "auto"


@dataclass(frozen=True)
class InstanceKey:
    model: str
    device: str
    compute_type: str


class Loader(Protocol):
    """Loads a model for a placement; runs in a worker thread (it may take seconds)."""

    def load(self, model: str, placement: Placement) -> Any: ...

    def unload(self, model: Any) -> None: ...


FootprintFn = Callable[[str, DeviceInfo, str], Footprint]
# (model, compute type) -> (workers, threads) measured on this CPU (engine/calibrate.py).
MeasuredFn = Callable[[str, str], tuple[int, int] | None]


@dataclass
class _Instance:
    """Mutable bookkeeping; only touched on the event loop while holding the pool lock."""

    key: InstanceKey
    device: DeviceInfo
    placement: Placement
    footprint: Footprint
    busy: int = 0
    last_used: float = 0.0
    model: Any = None
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    load_error: BaseException | None = None
    load_task: asyncio.Task[None] | None = None

    @property
    def max_workers(self) -> int:
        return self.placement.workers

    @property
    def held_bytes(self) -> int:
        return self.footprint.weights_bytes + self.busy * self.footprint.worker_bytes


@dataclass(frozen=True)
class Lease:
    """One granted slot: the model to call and where it runs."""

    model: Any
    key: InstanceKey
    device: DeviceInfo
    cpu_threads: int
    node: str | None = None  # set by a cluster's lease (whisper_ui/cluster): where it runs


@dataclass(eq=False)
class Reservation:
    """A slot granted by `reserve`, not yet in use; `use` turns it into a Lease, and
    `release` gives it back (once: a second release is a no-op)."""

    spec: ModelSpec
    _instance: _Instance
    released: bool = False


@dataclass(frozen=True)
class InstanceView:
    model: str
    device: str
    compute_type: str
    workers: int
    busy: int
    loading: bool
    idle_s: float


@dataclass(frozen=True)
class PoolSnapshot:
    """What the resources panel and `whisper-ui devices` show about the pool."""

    instances: tuple[InstanceView, ...]
    capacity: dict[str, int]
    waiting: int
    oom_caps: dict[str, int]
    unusable: dict[str, str] = field(default_factory=dict)  # device id -> CTranslate2's error

    @property
    def busy(self) -> int:
        return sum(i.busy for i in self.instances)

    @property
    def slots(self) -> int:
        return sum(self.capacity.values())


@dataclass(frozen=True)
class PoolConfig:
    planner: PlannerSettings = field(default_factory=PlannerSettings)
    compute_type: str = "auto"
    idle_ttl_s: float = 600.0
    oom_cooldown_s: float = 300.0
    recheck_s: float = 2.0


class ModelPool:
    """Grants `async with pool.lease(spec) as lease:`; see the module docstring.

    A caller that must wait for a slot while watching something else (the dispatcher
    watches its queue) uses the parts: `await reserve(spec)` (cancellable: a cancelled
    wait holds nothing), then `async with use(reservation) as lease:`, or `release`.
    """

    def __init__(
        self,
        probe: ResourceProbe,
        loader: Loader,
        footprint: FootprintFn,
        config: PoolConfig = PoolConfig(),
        *,
        cuda_ok: bool = False,
        clock: Callable[[], float] = time.monotonic,
        measured: MeasuredFn | None = None,
    ) -> None:
        self._probe = probe
        self._measured = measured
        self._loader = loader
        self._footprint = footprint
        self._config = config
        self._cuda_ok = cuda_ok
        self._clock = clock
        self._instances: dict[InstanceKey, _Instance] = {}
        self._oom_caps: dict[str, tuple[int, float]] = {}
        self._unusable: dict[str, str] = {}  # device id -> why CTranslate2 cannot run there
        self._cond = asyncio.Condition()
        self._waiting = 0
        self._last_capacity: dict[str, int] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._unloading: set[asyncio.Task[None]] = set()

    # ---- planning ------------------------------------------------------------

    def plan_for(self, spec: ModelSpec, resources: Resources | None = None) -> PoolPlan:
        """The plan for `spec` given current measurements and what this pool already holds."""
        resources = resources if resources is not None else self._probe.snapshot()
        unusable = [d for d in resources.devices if d.id in self._unusable]
        if unusable:
            kept = tuple(d for d in resources.devices if d.id not in self._unusable)
            resources = dataclasses.replace(resources, devices=kept)
        compute = spec.compute_type if spec.compute_type != "auto" else self._config.compute_type
        held: dict[str, int] = {}
        for inst in self._instances.values():
            if inst.key.model == spec.model and (
                compute == "auto" or inst.key.compute_type == compute
            ):
                held[inst.key.device] = held.get(inst.key.device, 0) + inst.held_bytes
        planner = self._config.planner
        cpu_measured = self._measured(spec.model, compute) if self._measured else None
        if cpu_measured is not None:
            planner = dataclasses.replace(planner, cpu_measured=cpu_measured)
        plan = plan_pool(
            resources,
            lambda device, ct: self._footprint(spec.model, device, ct),
            planner,
            compute_type=None if compute == "auto" else compute,
            held_bytes=held,
            cuda_ok=self._cuda_ok,
        )
        if not unusable:
            return plan
        notes = tuple(
            f"{d.id} ({d.name}) cannot run models: {self._unusable[d.id]}; not used until "
            "the server restarts"
            for d in unusable
        )
        return dataclasses.replace(plan, notes=(*notes, *plan.notes))

    def _oom_cap(self, device_id: str) -> int:
        cap = self._oom_caps.get(device_id)
        if cap is None:
            return _NO_CAP
        limit, since = cap
        if self._clock() - since >= self._config.oom_cooldown_s:
            del self._oom_caps[device_id]
            return _NO_CAP
        return limit

    def _device_busy(self, device_id: str) -> int:
        return sum(i.busy for i in self._instances.values() if i.key.device == device_id)

    def _try_grant(self, spec: ModelSpec) -> _Instance | None:
        """One admission decision; caller holds the lock. Reserves a slot or returns None."""
        plan = self.plan_for(spec)
        if not plan.placements:
            anything_running = any(i.busy for i in self._instances.values())
            if not anything_running:
                notes = "; ".join(plan.notes) or "no device has room for it"
                raise PoolError(f"model '{spec.model}' cannot run on this machine now: {notes}")
            return None
        best: tuple[int, Placement] | None = None
        for placement in plan.placements:
            device_id = placement.device.id
            capacity = min(placement.workers, self._oom_cap(device_id))
            self._last_capacity[device_id] = capacity
            spare = capacity - self._device_busy(device_id)
            if spare <= 0:
                continue
            key = InstanceKey(spec.model, device_id, placement.compute_type)
            inst = self._instances.get(key)
            if inst is not None and inst.busy >= inst.max_workers:
                continue  # loaded with fewer workers than the plan now allows; wait for it
            if best is None or spare > best[0]:
                best = (spare, placement)
        if best is None:
            return None
        placement = best[1]
        key = InstanceKey(spec.model, placement.device.id, placement.compute_type)
        inst = self._instances.get(key)
        if (
            inst is not None
            and inst.busy == 0
            and (
                placement.workers > inst.max_workers
                or placement.cpu_threads != inst.placement.cpu_threads
            )
        ):
            # The plan grew (or a calibration changed the threads) and nobody uses the
            # instance: reload it as planned.
            self._unload_later(self._drop(inst))
            inst = None
        if inst is None:
            inst = _Instance(
                key=key,
                device=placement.device,
                placement=placement,
                footprint=self._footprint(spec.model, placement.device, placement.compute_type),
                last_used=self._clock(),
            )
            self._instances[key] = inst
            inst.load_task = asyncio.get_running_loop().create_task(self._load(inst))
        inst.busy += 1
        return inst

    async def _load(self, inst: _Instance) -> None:
        try:
            inst.model = await asyncio.to_thread(self._loader.load, inst.key.model, inst.placement)
            log.info(
                "loaded %s on %s (%s, %d workers)",
                inst.key.model,
                inst.key.device,
                inst.key.compute_type,
                inst.max_workers,
            )
        except BaseException as exc:
            inst.load_error = exc
            async with self._cond:
                if isinstance(exc, DeviceUnusable):
                    log.warning("%s; its jobs go to the other devices", exc)
                    self._unusable[inst.key.device] = exc.reason
                if self._instances.get(inst.key) is inst:
                    del self._instances[inst.key]
                self._cond.notify_all()
        finally:
            inst.loaded.set()

    # ---- leasing -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(self, spec: ModelSpec) -> AsyncIterator[Lease]:
        """Wait for a slot for `spec`, yield it, and give it back on exit (always)."""
        reservation = await self.reserve(spec)
        async with self.use(reservation) as lease:
            yield lease

    async def reserve(self, spec: ModelSpec) -> Reservation:
        """Wait until a slot for `spec` is free and hold it. Cancelling the wait leaves
        nothing held; raises PoolError when no device can ever run the model."""
        return Reservation(spec, await self._acquire(spec))

    @contextlib.asynccontextmanager
    async def use(self, reservation: Reservation) -> AsyncIterator[Lease]:
        """The reserved slot as a Lease once its model is loaded; released on exit."""
        inst = reservation._instance
        try:
            await inst.loaded.wait()
            if isinstance(inst.load_error, DeviceUnusable):
                # The device, not the model: the job goes back to the queue, and the plan
                # no longer has this device.
                raise CapacityLost(str(inst.load_error)) from inst.load_error
            if inst.load_error is not None:
                err = inst.load_error
                raise ModelLoadError(
                    f"model '{reservation.spec.model}' failed to load: {err}"
                ) from err
            yield Lease(inst.model, inst.key, inst.device, inst.placement.cpu_threads)
        finally:
            await self.release(reservation)

    async def release(self, reservation: Reservation) -> None:
        """Give a reserved slot back (a no-op the second time)."""
        if not reservation.released:
            reservation.released = True
            await self._release(reservation._instance)

    async def _acquire(self, spec: ModelSpec) -> _Instance:
        async with self._cond:
            self._waiting += 1
            try:
                while True:
                    inst = self._try_grant(spec)
                    if inst is not None:
                        return inst
                    # Re-plan on every release, and every few seconds: other processes
                    # may free (or take) memory without telling us.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), self._config.recheck_s)
            finally:
                self._waiting -= 1

    async def _release(self, inst: _Instance) -> None:
        async with self._cond:
            inst.busy -= 1
            inst.last_used = self._clock()
            self._cond.notify_all()

    def report_oom(self, lease: Lease) -> int:
        """An allocation failed on lease's device: lower its capacity for a while.

        Returns the new cap. Called while the lease is still held, so the failing
        job counts as busy: the cap becomes one fewer than what was running.
        """
        device_id = lease.key.device
        running = self._device_busy(device_id)
        current = self._oom_caps.get(device_id, (running, 0.0))[0]
        cap = max(1, min(current, running) - 1)
        self._oom_caps[device_id] = (cap, self._clock())
        log.warning("out of memory on %s: capacity lowered to %d", device_id, cap)
        return cap

    # ---- idle unloading ------------------------------------------------------

    def _drop(self, inst: _Instance) -> Any:
        """Forget `inst` (caller holds the lock); returns its model for `_unload`."""
        del self._instances[inst.key]
        model, inst.model = inst.model, None
        return model

    async def _unload(self, model: Any) -> None:
        """Free a model's memory in a thread: CTranslate2's unload can take a while."""
        if model is not None:
            await asyncio.to_thread(self._loader.unload, model)

    def _unload_later(self, model: Any) -> None:
        if model is not None:
            task = asyncio.get_running_loop().create_task(self._unload(model))
            self._unloading.add(task)
            task.add_done_callback(self._unloading.discard)

    async def reap(self) -> list[InstanceKey]:
        """Unload instances idle for idle_ttl_s; check and removal under one lock."""
        removed: list[InstanceKey] = []
        models: list[Any] = []
        async with self._cond:
            now = self._clock()
            for inst in list(self._instances.values()):
                idle = inst.busy == 0 and inst.loaded.is_set()
                if idle and now - inst.last_used >= self._config.idle_ttl_s:
                    models.append(self._drop(inst))
                    removed.append(inst.key)
            if removed:
                self._cond.notify_all()
        for key, model in zip(removed, models, strict=True):
            await self._unload(model)
            log.info("unloaded idle %s on %s", key.model, key.device)
        return removed

    def start(self) -> None:
        """Start the background reaper on the running loop."""
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(1.0, min(30.0, self._config.idle_ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            await self.reap()

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        models: list[Any] = []
        async with self._cond:
            for inst in list(self._instances.values()):
                if inst.busy == 0 and inst.loaded.is_set():
                    models.append(self._drop(inst))
        for model in models:
            await self._unload(model)
        if self._unloading:
            await asyncio.gather(*self._unloading, return_exceptions=True)

    # ---- views ---------------------------------------------------------------

    def snapshot(self) -> PoolSnapshot:
        now = self._clock()
        views = tuple(
            InstanceView(
                model=i.key.model,
                device=i.key.device,
                compute_type=i.key.compute_type,
                workers=i.max_workers,
                busy=i.busy,
                loading=not i.loaded.is_set(),
                idle_s=0.0 if i.busy else max(0.0, now - i.last_used),
            )
            for i in self._instances.values()
        )
        caps = {d: c for d, (c, _) in self._oom_caps.items()}
        return PoolSnapshot(
            views, dict(self._last_capacity), self._waiting, caps, dict(self._unusable)
        )
