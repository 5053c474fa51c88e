"""Load on loopback, bounded in time: 20 clients, 200 short jobs, a bounded queue.

Every job completes exactly once, the health endpoint stays fast while the pool is busy,
and a full queue answers 429 with Retry-After instead of growing without bound.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA, free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLIENTS, JOBS_EACH, MAX_QUEUE = 20, 10, 40


async def test_twenty_clients_two_hundred_jobs(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "WHISPER_UI__MAX_QUEUE": str(MAX_QUEUE),
        "WHISPER_UI__BEAM_SIZE": "1",
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    audio = (DATA / "tiny_0.1s.wav").read_bytes()
    speech = (DATA / "second_speech.wav").read_bytes()
    try:
        # Idle connections are dropped well before uvicorn's 5 s keep-alive ends: at
        # httpx's default (also 5 s) a request could go out on a socket the server was
        # closing and fail with ReadError (seen once under load).
        limits = httpx.Limits(keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                await asyncio.sleep(0.2)

            accepted: list[str] = []
            refused = 0
            retry_after: set[str] = set()
            health_ms: list[float] = []
            done = asyncio.Event()

            async def one_client(index: int) -> None:
                nonlocal refused
                for n in range(JOBS_EACH):
                    body = speech if (index + n) % 5 == 0 else audio
                    name = f"c{index:02d}-j{n:02d}.wav"
                    while True:
                        r = await client.post(
                            "/api/jobs", files=[("files", (name, body))], data={"beam_size": "1"}
                        )
                        if r.status_code == 202:
                            accepted.extend(j["id"] for j in r.json()["jobs"])
                            break
                        assert r.status_code == 429, r.text
                        refused += 1
                        retry_after.add(r.headers.get("retry-after", ""))
                        await asyncio.sleep(0.25)  # a test client retries sooner than told

            async def watch_health() -> None:
                while not done.is_set():
                    began = time.perf_counter()
                    r = await client.get("/api/health")
                    health_ms.append((time.perf_counter() - began) * 1000)
                    assert r.status_code == 200
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch_health())
            began = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(one_client(i) for i in range(CLIENTS))), 240)
            while True:
                jobs = (await client.get("/api/jobs")).json()["jobs"]
                if all(j["status"] in ("completed", "failed", "cancelled") for j in jobs):
                    break
                assert time.monotonic() - began < 300, "jobs did not finish in time"
                await asyncio.sleep(0.5)
            done.set()
            await watcher

        assert len(accepted) == CLIENTS * JOBS_EACH == len(set(accepted)), "none duplicated"
        assert sorted(j["id"] for j in jobs) == sorted(accepted), "none lost, none extra"
        assert {j["status"] for j in jobs} == {"completed"}
        assert refused > 0, f"the queue bound ({MAX_QUEUE}) was never reached"
        assert retry_after and all(v.isdigit() and int(v) > 0 for v in retry_after)
        p95 = statistics.quantiles(health_ms, n=20)[-1]
        assert p95 < 200, f"health p95 {p95:.0f} ms over {len(health_ms)} probes"
    finally:
        server.terminate()
        server.wait(15)
