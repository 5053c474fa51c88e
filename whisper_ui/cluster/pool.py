"""The head's view of the cluster: every node's agent behind the dispatcher's lease interface.

The dispatcher asks this pool exactly what it asks the local ModelPool: `reserve`
(wait for a slot, cancellable), `use` (the slot as a Lease), `release`, `report_oom`.
A slot here is one of a node's planned workers; each node's plan is made there, by its
agent's own ModelPool, and the head only counts how many of them it has handed out.
Placement: the node where the model is already loaded, then the one with the most
free slots, then the one that got the fewest jobs (so equal nodes share the work).
Fairness between submitters stays the queue's: the dispatcher still reserves for the
queue's head only. A background task finds nodes that joined (and places an agent
there) or left (and forgets them); a job whose node leaves is requeued by the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from whisper_ui.cluster.agent import Agent, Capacity
from whisper_ui.cluster.connect import ClusterError, connect, disconnect
from whisper_ui.config import Settings
from whisper_ui.engine.errors import PoolError
from whisper_ui.engine.pool import InstanceKey, Lease, ModelSpec
from whisper_ui.engine.resources import DeviceInfo

log = logging.getLogger(__name__)

_AGENT_NAME = "whisper-ui-agent-{}"


def _host(info: dict[str, Any]) -> str:
    return str(info.get("NodeManagerHostname") or info.get("NodeManagerAddress") or "node")


def _node_name(info: dict[str, Any], node_id: str, hosts: Counter[str]) -> str:
    """A node is named by its host, given once and kept (jobs record it, resume looks it up);
    nodes sharing a host when one joins get their id's start too."""
    host = _host(info)
    return host if hosts[host] <= 1 else f"{host}#{node_id[:6]}"


@dataclass
class _Node:
    """Bookkeeping for one node; touched on the event loop only."""

    node_id: str
    name: str
    agent: Any  # a Ray ActorHandle of Agent
    cpus: float
    busy: int = 0
    given: int = 0  # jobs handed to it so far: ties go to the node with fewer
    capacity: dict[str, Capacity] = field(default_factory=dict)
    oom_cap: tuple[int, float] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    lost: bool = False


@dataclass(frozen=True)
class RemoteSlot:
    """What a cluster Lease carries instead of a loaded model: the agent to run on,
    and how the runner tells the pool that the node went away."""

    agent: Any
    node_id: str
    node: str
    lost: Callable[[str], None]  # thread-safe: the pool forgets the node until it is seen again
    load_failed: Callable[[str, str], bool]  # (model, error) -> another node may serve it


@dataclass(eq=False)
class ClusterReservation:
    spec: ModelSpec
    node: _Node
    released: bool = False


class ClusterPool:
    """Capacity on every node of a Ray cluster; see the module docstring."""

    def __init__(
        self,
        address: str,
        settings: Settings,
        *,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self._settings = settings
        self._refresh_s = refresh_s
        self._clock = clock
        self._nodes: dict[str, _Node] = {}
        self._cond = asyncio.Condition()
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._place_error = ""

    # ---- life ----------------------------------------------------------------

    async def start(self) -> None:
        """Connect (ClusterError naming the address when it cannot) and find the nodes."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(connect, self.address)
        await self.refresh()
        if not self._nodes:
            why = f": {self._place_error}" if self._place_error else ""
            raise ClusterError(
                f"the Ray cluster at {self.address} has no node that can run jobs{why} "
                "(is whisper-ui[cluster] installed on every node?)"
            )
        self._task = self._loop.create_task(self._refresh_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._nodes.clear()
        await asyncio.to_thread(disconnect)

    def runner(self) -> Any:
        from whisper_ui.cluster.runner import ClusterRunner

        return ClusterRunner()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except Exception:  # the GCS restarting, a slow node: try again next time
                log.warning("cluster refresh failed", exc_info=True)

    async def refresh(self) -> None:
        """Place agents on new nodes, forget dead ones, re-ask every node's capacity."""
        import ray

        alive = {n["NodeID"]: n for n in await asyncio.to_thread(ray.nodes) if n.get("Alive")}
        for node_id in list(self._nodes):
            if node_id not in alive:
                log.warning("cluster node %s left", self._nodes[node_id].name)
                del self._nodes[node_id]
        workers = {
            node_id: info
            for node_id, info in alive.items()
            if info.get("Resources", {}).get("CPU") or info.get("Resources", {}).get("GPU")
        }  # `ray start --num-cpus 0` is a node that only serves (the head)
        hosts = Counter(_host(info) for info in workers.values())
        for node_id, info in workers.items():
            node = self._nodes.get(node_id)
            if node is None or node.lost:
                name = node.name if node is not None else _node_name(info, node_id, hosts)
                node = await self._place(node_id, info, node, name)
                if node is None:
                    continue
                self._nodes[node_id] = node
        models = {self._settings.model} | {m for n in self._nodes.values() for m in n.capacity}
        await asyncio.gather(*(self._ask(n, models) for n in list(self._nodes.values())))
        async with self._cond:
            self._cond.notify_all()

    async def _place(
        self, node_id: str, info: dict[str, Any], old: _Node | None, name: str
    ) -> _Node | None:
        """The agent on `node_id` (created there, or found again by its name)."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cpus = float(info.get("Resources", {}).get("CPU", 0.0)) or None
        actor = ray.remote(Agent).options(
            name=_AGENT_NAME.format(node_id),
            get_if_exists=True,
            num_cpus=0,  # its pool's workers use the node's cores, as its plan says
            max_concurrency=1000,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        )
        try:
            agent: Any = actor.remote(self._settings, cpus)
            hello = await asyncio.wait_for(agent.hello.remote(), 120)
        except Exception as exc:
            log.warning("no agent on node %s: %s", node_id[:8], exc)
            self._place_error = f"{type(exc).__name__}: {str(exc).splitlines()[-1:]}"
            return None
        node = _Node(node_id, name, agent, cpus or 0.0)
        if old is not None:
            node.given = old.given
        log.info("cluster node %s (%s, %s) joined", name, node_id[:8], hello.get("hostname"))
        return node

    async def _ask(self, node: _Node, models: set[str]) -> None:
        try:
            for model in models:
                node.capacity[model] = await asyncio.wait_for(node.agent.capacity.remote(model), 30)
            node.status = await asyncio.wait_for(node.agent.status.remote(self._settings.model), 30)
        except Exception as exc:
            log.warning("cluster node %s does not answer: %s", node.name, exc)
            node.lost = True

    # ---- leasing (the dispatcher's Pool) ------------------------------------

    def _cap(self, node: _Node, model: str) -> int:
        capacity = node.capacity.get(model)
        workers = capacity.workers if capacity is not None and capacity.error is None else 0
        if node.oom_cap is not None:
            limit, since = node.oom_cap
            if self._clock() - since < 300.0:
                workers = min(workers, limit)
            else:
                node.oom_cap = None
        return workers

    def _pick(self, spec: ModelSpec) -> _Node | None:
        """One placement decision; raises PoolError when no node will ever run it."""
        usable = [n for n in self._nodes.values() if not n.lost]
        best: tuple[tuple[bool, int, int], _Node] | None = None
        for node in usable:
            spare = self._cap(node, spec.model) - node.busy
            if spare <= 0:
                continue
            capacity = node.capacity[spec.model]
            rank = (capacity.loaded, spare, -node.given)
            if best is None or rank > best[0]:
                best = (rank, node)
        if best is not None:
            return best[1]
        known = [n.capacity.get(spec.model) for n in usable]
        if usable and all(c is not None for c in known) and not any(n.busy for n in usable):
            errors = [
                f"{n.name}: {c.error}" for n, c in zip(usable, known, strict=True) if c and c.error
            ]
            if len(errors) == len(usable):
                joined = "; ".join(errors)
                raise PoolError(f"model '{spec.model}' failed to load on every node ({joined})")
            if all(c is not None and c.workers == 0 for c in known):
                raise PoolError(f"model '{spec.model}' fits on no node of the cluster now")
        return None

    async def reserve(self, spec: ModelSpec) -> ClusterReservation:
        async with self._cond:
            self._waiting += 1
            try:
                while True:
                    if any(spec.model not in n.capacity for n in self._nodes.values()):
                        for node in self._nodes.values():
                            if spec.model not in node.capacity:
                                await self._ask(node, {spec.model})
                    picked = self._pick(spec)
                    if picked is not None:
                        picked.busy += 1
                        picked.given += 1
                        return ClusterReservation(spec, picked)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), self._refresh_s)
            finally:
                self._waiting -= 1

    @contextlib.asynccontextmanager
    async def use(self, reservation: ClusterReservation) -> AsyncIterator[Lease]:
        node = reservation.node
        capacity = node.capacity.get(reservation.spec.model)
        device_id = capacity.device if capacity is not None else "cpu"
        try:
            slot = RemoteSlot(node.agent, node.node_id, node.name, self._lost_soon, self._failed)
            yield Lease(
                slot,
                InstanceKey(reservation.spec.model, device_id, reservation.spec.compute_type),
                _device(device_id),
                0,
                node=node.name,
            )
        finally:
            await self.release(reservation)

    async def release(self, reservation: ClusterReservation) -> None:
        if not reservation.released:
            reservation.released = True
            async with self._cond:
                reservation.node.busy -= 1
                self._cond.notify_all()

    def report_oom(self, lease: Lease) -> int:
        node = self._node_named(lease.node)
        if node is None:
            return 1
        cap = max(1, node.busy - 1)
        node.oom_cap = (cap, self._clock())
        return cap

    # ---- what the runner reports (from its thread) ----------------------------

    def _lost_soon(self, node_id: str) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._mark_lost, node_id)

    def _mark_lost(self, node_id: str) -> None:
        node = self._nodes.get(node_id)
        if node is not None:
            node.lost = True  # not offered again until refresh sees it answer

    def _failed(self, model: str, node_id: str) -> bool:
        """A model failed to load on `node_id`; True when some other node may run it."""
        others = [
            n
            for n in list(self._nodes.values())
            if n.node_id != node_id
            and not n.lost
            and (c := n.capacity.get(model)) is not None
            and c.error is None
            and c.workers > 0
        ]
        node = self._nodes.get(node_id)
        if node is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._forget_capacity, node, model)
        return bool(others)

    def _forget_capacity(self, node: _Node, model: str) -> None:
        node.capacity.pop(model, None)  # asked again: the agent now reports the error

    # ---- views ---------------------------------------------------------------

    def _node_named(self, name: str | None) -> _Node | None:
        return next((n for n in self._nodes.values() if n.name == name), None)

    def nodes(self) -> list[dict[str, Any]]:
        """Every node with its devices, free memory and slots (GET /api/resources)."""
        out: list[dict[str, Any]] = []
        model = self._settings.model
        for node in sorted(self._nodes.values(), key=lambda n: n.name):
            status = node.status
            slots = self._cap(node, model)
            out.append(
                {
                    "name": node.name,
                    "node_id": node.node_id,
                    "alive": not node.lost,
                    "cpus": node.cpus,
                    "devices": status.get("devices", []),
                    "slots": slots,
                    "busy": node.busy,
                    "idle": max(0, slots - node.busy),
                    "pool": status.get("pool", {}),
                    "failed_models": status.get("failed_models", {}),
                }
            )
        return out

    @property
    def waiting(self) -> int:
        return self._waiting


def _device(device_id: str) -> DeviceInfo:
    """A stand-in DeviceInfo for a remote device: the head only reads its id and kind."""
    if device_id.startswith("cuda:"):
        return DeviceInfo("cuda", int(device_id.split(":", 1)[1]), device_id, 0, 0)
    return DeviceInfo("cpu", 0, "cpu", 0, 0)


async def describe_cluster(address: str, settings: Settings) -> list[dict[str, Any]]:
    """Every node's devices and plan (`whisper-ui devices --cluster`), then disconnect."""
    pool = ClusterPool(address, settings)
    try:
        await pool.start()
        return pool.nodes()
    finally:
        await pool.close()
