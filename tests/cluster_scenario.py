"""A real three-node Ray cluster on this machine, driven through whisper-ui's services.

Run by tests/integration/test_cluster.py inside a network namespace of its own
(`unshare -n`, loopback only), so every Ray port and connection is 127.0.0.1 and
nothing is reachable from, or talks to, the machine's interfaces. Prints one JSON
line (RESULT {...}) that the test checks. The head node gives Ray no CPUs (it only
serves); each worker node gives it one, so its agent plans one worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


async def until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def scenario(cluster: Any, data_dir: str) -> dict[str, Any]:
    from whisper_ui.config import Settings
    from whisper_ui.domain import SegmentAdded, Upload
    from whisper_ui.services import build_services

    out: dict[str, Any] = {}
    settings = Settings(cluster=cluster.address, data_dir=data_dir)
    services = build_services(settings, persist=True)
    await services.start()
    out["nodes_at_start"] = [n["name"] for n in services.cluster.nodes()]
    out["resources_nodes"] = services.status()["nodes"]
    seen: list[int] = []
    long_job, short = await services.dispatcher.submit(
        [
            Upload(str(DATA / "long_speech.mp3"), "long.mp3"),
            Upload(str(DATA / "speech.wav"), "a.wav"),
        ],
        services.default_options(),
    )

    async def watch() -> None:
        async for event in services.bus.subscribe(long_job.id):
            if isinstance(event, SegmentAdded):
                seen.append(event.segment.id)

    watcher = asyncio.ensure_future(watch())
    reg = services.registry
    both = await until(
        lambda: (
            all(reg.get(j.id).node for j in (long_job, short))
            and [reg.get(j.id).node for j in (long_job, short)]
        ),
        120,
        "both jobs started",
    )
    out["first_nodes"] = both
    await until(lambda: len(reg.segments(long_job.id)) >= 2, 120, "two segments of the long job")
    victim = reg.get(long_job.id).node
    out["removed"] = victim
    out["segments_before_removal"] = len(reg.segments(long_job.id))
    node_id = next(n.node_id for n in services.cluster._nodes.values() if n.name == victim)
    worker = next(n for n in cluster.worker_nodes if n.node_id == node_id)
    cluster.remove_node(worker, allow_graceful=False)
    await services.dispatcher.wait(short.id)
    done = await services.dispatcher.wait(long_job.id)
    await watcher
    out["long"] = {
        "status": done.status.value,
        "node": done.node,
        "error": done.error,
        "attempts": done.attempts,
        "ids": [s.id for s in reg.segments(long_job.id)],
        "published_ids": seen,
        "text": reg.transcript(long_job.id).text,
    }
    out["short_status"] = reg.get(short.id).status.value

    # A node that joins later gets work.
    cluster.add_node(num_cpus=1)
    await until(lambda: len(services.cluster.nodes()) == 2, 120, "the new node found")
    later = await services.dispatcher.submit(
        [Upload(str(DATA / "second_speech.wav"), f"b{i}.wav") for i in range(2)],
        services.default_options(),
    )
    finished = [await services.dispatcher.wait(j.id) for j in later]
    out["later_nodes"] = [j.node for j in finished]
    out["later_status"] = [j.status.value for j in finished]
    out["nodes_after_join"] = [n["name"] for n in services.cluster.nodes()]

    # The server restarting mid-job finds the cluster again and resumes the job.
    (again,) = await services.dispatcher.submit(
        [Upload(str(DATA / "long_speech.mp3"), "again.mp3")], services.default_options()
    )
    await until(
        lambda: len(services.registry.segments(again.id)) >= 2, 120, "segments before restart"
    )
    await services.stop()
    services = build_services(settings, persist=True)
    await services.start()
    before = len(services.registry.segments(again.id))
    resumed = await services.dispatcher.wait(again.id)
    out["restart"] = {
        "segments_before": before,
        "status": resumed.status.value,
        "node": resumed.node,
        "ids": [s.id for s in services.registry.segments(again.id)],
        "text": services.registry.transcript(again.id).text,
    }
    await services.stop()
    return out


def main() -> None:
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    sys.path.insert(0, str(ROOT))
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "_system_config": {"health_check_period_ms": 1000, "health_check_failure_threshold": 3},
        },
    )
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        with tempfile.TemporaryDirectory() as data_dir:
            result = asyncio.run(scenario(cluster, data_dir))
        print("RESULT " + json.dumps(result), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
