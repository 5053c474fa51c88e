"""Running one job on a node's agent: the dispatcher's RunJob for a cluster lease.

Called in the dispatcher's worker thread, as the local runner is. The file goes to the
node as object-store chunks (a bounded size each, so no shared filesystem and no single
huge object); the agent's events come back one by one through a Ray streaming
generator and are emitted here exactly as a local run emits them, so the registry,
journal, page and SSE cannot tell the difference. When the node dies mid-job, Ray
raises a system error (not the task's own): the job is handed back as CapacityLost and
the dispatcher requeues it; it resumes after the last segment the head has saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whisper_ui.cluster.pool import RemoteSlot
from whisper_ui.domain import Job, Resume, Transcript
from whisper_ui.engine.errors import CapacityLost, ModelLoadError, PoolError
from whisper_ui.engine.pool import Lease
from whisper_ui.engine.runner import Emit

log = logging.getLogger(__name__)

CHUNK_BYTES = 8 * 2**20
_POLL_S = 0.25  # how often a wait for the next event looks at the cancel flag


def put_file(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> list[Any]:
    """The file as object-store chunks owned by this process (freed when dropped)."""
    import ray

    refs: list[Any] = []
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            refs.append(ray.put(chunk))
    return refs


class ClusterRunner:
    """RunJob for leases from cluster.pool.ClusterPool."""

    def __call__(
        self,
        job: Job,
        lease: Lease,
        resume: Resume,
        emit: Emit,
        should_cancel: Callable[[], bool],
    ) -> Transcript:
        import ray
        from ray.exceptions import RayError, RayTaskError

        slot = lease.model
        assert isinstance(slot, RemoteSlot), "a cluster runner needs a cluster lease"
        chunks = put_file(job.path)
        try:
            stream = slot.agent.run.options(num_returns="streaming").remote(job, chunks, resume)
            transcript: Transcript | None = None
            cancel_sent = False
            try:
                while True:
                    if not cancel_sent and should_cancel():
                        slot.agent.cancel.remote(job.id)
                        cancel_sent = True
                    ready, _ = ray.wait([stream], timeout=_POLL_S)
                    if not ready:
                        continue
                    try:
                        ref = next(stream)
                    except StopIteration:
                        break
                    item = ray.get(ref)
                    if isinstance(item, Transcript):
                        transcript = item
                    else:
                        emit(item)
            except RayTaskError as exc:  # the job's own error, raised on the node
                cause = exc.cause if isinstance(exc.cause, BaseException) else None
                failed = isinstance(cause, ModelLoadError | PoolError)
                if failed and slot.load_failed(job.options.model, slot.node_id):
                    raise CapacityLost(
                        f"{job.options.model} could not run on {slot.node} ({cause}); "
                        "trying another node"
                    ) from cause
                if cause is not None:
                    raise cause from None
                raise
            except RayError as exc:  # the node or its agent is gone
                log.warning("%s: node %s lost mid-job: %s", job.name, slot.node, exc)
                slot.lost(slot.node_id)
                raise CapacityLost(
                    f"node {slot.node} left the cluster ({type(exc).__name__}); "
                    "resuming on another node"
                ) from exc
        finally:
            del chunks
        if transcript is None:  # the stream ended without one: treat as a lost node
            slot.lost(slot.node_id)
            raise CapacityLost(f"node {slot.node} ended {job.name} without a transcript")
        return transcript
