"""The same batch on a Ray cluster of 1, 2 and 3 one-CPU nodes of this machine.

    python bench/cluster.py [--quick] [--nodes 1,2,3] [--beam 5] [--latency-runs 5]
                            [--repeat 3]   (as root)

The corpus is bench/throughput.py's `mixed` one (espeak-ng short and medium files and
tests/data/long_speech.mp3), submitted longest first. Every configuration runs in its
own process: `local` is whisper-ui without a cluster, one worker of one thread; `N
nodes` is a ray.cluster_utils.Cluster whose head gives Ray no CPUs (it only serves) and
N nodes of one CPU each, inside a network namespace of its own (`unshare -n`, as
tests/cluster_scenario.py does: needs root), so all of Ray's traffic stays on loopback.
Every node's model is loaded before the clock starts.

Prints per configuration: audio-seconds per wall-second and the ratio to one node
(target: 2 nodes >= 1.8x), which node ran how many jobs, each node's plan (workers x
threads), submit-to-first-segment on an idle pool (the median of a few runs of
tests/data/speech.wav; the cluster's minus local's is the time Ray adds, target < 0.3 s),
and the head's peak RSS: the whisper-ui server process, and the Ray head's own
processes (GCS, raylet) sampled during the batch. The cores are the limit: on a
machine with fewer cores than nodes, more nodes cannot be faster. Each run also says
where the CPU time of its batch went (the workers, Ray's own processes, the server, and
other processes on the machine): on a shared machine, what others take is missing from
the cluster's cores, and a single node, using one core, misses it less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.throughput import (  # noqa: E402
    _cores,
    _cpu_name,
    _isa,
    _rss_mb,
    corpus_wer,
    duration,
    make_corpus,
)

WARM = ROOT / "tests" / "data" / "speech.wav"


class Clock:
    """When each job's first segment and its end were published (a bus listener)."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.done: dict[str, float] = {}

    def __call__(self, event: Any) -> None:
        from whisper_ui.domain import TERMINAL_EVENTS, SegmentAdded

        now = time.monotonic()
        if isinstance(event, SegmentAdded):
            self.first.setdefault(event.job_id, now)
        elif isinstance(event, TERMINAL_EVENTS):
            self.done[event.job_id] = now


def _tree_rss_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far: by this process (the server), the agents' processes, the
    rest of its process tree (Ray's own: GCS, raylets, their helpers), and the machine."""
    import psutil

    me = psutil.Process()
    used: Counter[str] = Counter()
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            title = (proc.cmdline() or [proc.name()])[0]
            group = "server" if proc.pid == me.pid else "agents" if "Agent" in title else "ray"
            used[group] += times.user + times.system
    machine = psutil.cpu_times()
    used["machine"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return dict(used)


async def _measure(
    svc: Any, files: list[Path], latency_runs: int, ray_pids: list[int]
) -> dict[str, Any]:
    """Latency on an idle pool, then the batch (all submitted at once)."""
    from whisper_ui.domain import Upload

    clock = Clock()
    svc.bus.add_listener(clock)
    opts = svc.default_options()
    latency: list[float] = []
    for _ in range(latency_runs):
        t0 = time.monotonic()
        (job,) = await svc.dispatcher.submit([Upload(str(WARM), "latency.wav")], opts)
        await svc.dispatcher.wait(job.id)
        latency.append(clock.first[job.id] - t0)
    peak_ray = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak_ray[0] = max(peak_ray[0], _tree_rss_mb(ray_pids))

    sampler = threading.Thread(target=sample, daemon=True)
    if ray_pids:
        sampler.start()
    t0 = time.monotonic()
    cpu0 = _cpu_seconds()
    jobs = await svc.dispatcher.submit([Upload(str(p), p.name) for p in files], opts)
    finished = [await svc.dispatcher.wait(j.id) for j in jobs]
    wall = time.monotonic() - t0
    cpu = {k: v - cpu0.get(k, 0.0) for k, v in _cpu_seconds().items()}
    cpu["others"] = cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")
    stop.set()
    if ray_pids:
        sampler.join()
    texts = {}
    for job in finished:
        transcript = svc.registry.transcript(job.id)
        texts[job.name] = transcript.text if transcript else ""
    return {
        "wall": wall,
        "latency": latency,
        "first_segment": sorted(clock.first[j.id] - t0 for j in jobs if j.id in clock.first),
        "statuses": dict(Counter(j.status.value for j in finished)),
        "per_node": dict(Counter(j.node or "local" for j in finished)),
        "texts": texts,
        "peak_ray_head_mb": peak_ray[0],
        "cpu": cpu,
    }


def run_local(files: list[Path], beam: int, latency_runs: int) -> dict[str, Any]:
    """whisper-ui without a cluster: one worker of one thread (what one node plans)."""
    from whisper_ui.config import Settings
    from whisper_ui.domain import Upload
    from whisper_ui.services import build_services

    async def main() -> dict[str, Any]:
        data = Path(tempfile.mkdtemp(prefix="bench-cluster-local-"))
        settings = Settings(
            data_dir=data, concurrency=1, cpu_threads_per_worker=1, beam_size=beam, batch="off"
        )
        svc = build_services(settings)
        await svc.start()
        try:
            (warm,) = await svc.dispatcher.submit([Upload(str(WARM))], svc.default_options())
            await svc.dispatcher.wait(warm.id)
            plan = svc.plan()
            result = await _measure(svc, files, latency_runs, [])
            result["plans"] = {"local": [(p.workers, p.cpu_threads) for p in plan.placements]}
            return result
        finally:
            await svc.stop()
            shutil.rmtree(data, ignore_errors=True)

    result = asyncio.run(main())
    result["peak_rss_mb"] = _rss_mb()
    return result


def run_cluster(nodes: int, files: list[Path], beam: int, latency_runs: int) -> dict[str, Any]:
    """A head that only serves and `nodes` nodes of one CPU, token auth on, all loopback."""
    import secrets

    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # no "no external IP" warnings
    from ray.cluster_utils import Cluster

    from whisper_ui.config import Settings
    from whisper_ui.domain import Upload
    from whisper_ui.services import build_services

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    ray_pids = [
        info.process.pid
        for infos in cluster.head_node.all_processes.values()
        for info in infos
        if info.process is not None
    ]
    for _ in range(nodes):
        cluster.add_node(num_cpus=1)

    async def main() -> dict[str, Any]:
        data = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
        settings = Settings(cluster=cluster.address, data_dir=data, beam_size=beam, batch="off")
        svc = build_services(settings)
        await svc.start()
        try:
            assert svc.cluster is not None
            deadline = time.monotonic() + 120
            while len(svc.cluster.nodes()) < nodes:
                assert time.monotonic() < deadline, "not every node joined"
                await asyncio.sleep(0.2)
            # One job per node at once: every node loads its model before the clock starts.
            warm = await svc.dispatcher.submit(
                [Upload(str(WARM)) for _ in range(nodes)], svc.default_options()
            )
            warmed = {(await svc.dispatcher.wait(j.id)).node for j in warm}
            assert len(warmed) == nodes, f"warm-up ran on {warmed}, not on {nodes} nodes"
            result = await _measure(svc, files, latency_runs, ray_pids)
            result["plans"] = {
                n["name"]: [(p["workers"], p.get("cpu_threads")) for p in n["pool"]["plan"]]
                for n in svc.cluster.nodes()
            }
            return result
        finally:
            await svc.stop()
            shutil.rmtree(data, ignore_errors=True)

    try:
        result = asyncio.run(main())
    finally:
        cluster.shutdown()
    result["peak_rss_mb"] = _rss_mb()
    return result


def child(mode: str, corpus: Path, beam: int, latency_runs: int, out: Path) -> None:
    files = [Path(line) for line in (corpus / "files.txt").read_text().splitlines()]
    if mode == "local":
        result = run_local(files, beam, latency_runs)
    else:
        result = run_cluster(int(mode), files, beam, latency_runs)
    out.write_text(json.dumps(result))


def _command(mode: str, folder: Path, args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [sys.executable, __file__, "--child", mode, "--corpus", str(folder), "--out", str(out)]
    cmd += ["--beam", str(args.beam), "--latency-runs", str(args.latency_runs)]
    if mode == "local":
        return cmd
    # A network namespace of its own: Ray then uses loopback for everything.
    return ["unshare", "-n", "sh", "-c", "ip link set lo up && exec " + " ".join(cmd)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter files")
    parser.add_argument("--nodes", default="1,2,3", help="cluster sizes, comma-separated")
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every configuration; the median is shown"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.beam, args.latency_runs, args.out)
        return
    if os.geteuid() != 0 or not shutil.which("unshare"):
        parser.error("needs root and unshare (util-linux): each cluster runs in its own netns")
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        files, truth = make_corpus(work, args.quick)
        files.sort(key=lambda p: -duration(p))  # longest first, as a careful script would
        (work / "files.txt").write_text("\n".join(str(p) for p in files))
        audio_s = sum(duration(p) for p in files)
        cores = _cores()
        print(f"corpus: {len(files)} files, {audio_s:.0f} s of speech, beam {args.beam}")
        print(
            f"cpu: {_cpu_name()} ({_isa()}), {cores} cores, load average before: "
            f"{os.getloadavg()[0]:.2f}"
        )
        modes = ["local", *args.nodes.split(",")]
        runs: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(args.repeat):
            for mode in modes:  # rounds interleave the configurations: drift hits all alike
                out = work / f"{mode}.json"
                started = time.monotonic()
                load = os.getloadavg()[0]
                subprocess.run(_command(mode, work, args, out), check=True, cwd=ROOT)
                r = json.loads(out.read_text())
                runs.setdefault(mode, []).append(r)
                print(
                    f"  #{round_ + 1} {mode}: {audio_s / r['wall']:.1f} audio-s/s, "
                    f"jobs {r['statuses']}, per node {r['per_node']}, plans {r['plans']} "
                    f"({time.monotonic() - started:.0f} s with start-up, load before {load:.2f})",
                    flush=True,
                )
                c = r["cpu"]
                print(
                    f"      CPU s in the batch: {_cores()} cores x {r['wall']:.0f} s wall = "
                    f"{_cores() * r['wall']:.0f}; workers {c.get('agents', 0.0):.0f}, Ray's own "
                    f"{c.get('ray', 0.0):.0f}, server {c['server']:.0f}, other processes on "
                    f"the machine {c['others']:.0f}",
                    flush=True,
                )
        # Each configuration's run with the median wall time; latency over all its runs.
        results = {m: sorted(rs, key=lambda r: r["wall"])[len(rs) // 2] for m, rs in runs.items()}
        for mode, rs in runs.items():
            results[mode] = {**results[mode], "latency": [x for r in rs for x in r["latency"]]}
        _table(results, audio_s, truth, cores)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _table(
    results: dict[str, dict[str, Any]], audio_s: float, truth: dict[str, str], cores: int
) -> None:
    one = results.get("1")
    local_latency = statistics.median(results["local"]["latency"])
    print()
    print(
        "| configuration | audio-s/s | vs 1 node | jobs per node | first segment, idle s "
        "(median) | added vs local s | server peak RSS MB | Ray head peak RSS MB | WER % "
        "| CPU taken by other processes % |"
    )
    print("|" + "---|" * 10)
    for mode, r in results.items():
        label = "local, 1 worker x 1 thread" if mode == "local" else f"{mode} node(s) x 1 CPU"
        ratio = one["wall"] / r["wall"] if one else float("nan")
        lat = statistics.median(r["latency"])
        added = "" if mode == "local" else f"{lat - local_latency:+.3f}"
        per_node = ", ".join(str(v) for _, v in sorted(r["per_node"].items()))
        ray_mb = f"{r['peak_ray_head_mb']:.0f}" if r["peak_ray_head_mb"] else ""
        print(
            f"| {label} | {audio_s / r['wall']:.1f} | {ratio:.2f}x | {per_node} | {lat:.3f} "
            f"| {added} | {r['peak_rss_mb']:.0f} | {ray_mb} "
            f"| {corpus_wer(truth, r['texts']):.2f} "
            f"| {100 * r['cpu']['others'] / (cores * r['wall']):.0f} |"
        )
    big = [int(m) for m in results if m != "local" and int(m) > cores]
    if big:
        print(
            f"\nthis machine has {cores} cores: {', '.join(map(str, big))} nodes of one CPU "
            f"share them, so they cannot be faster than {cores} nodes (the cores are the limit)"
        )
    two = results.get("2")
    if one and two:
        ratio = one["wall"] / two["wall"]
        verdict = "met" if ratio >= 1.8 else "MISSED"
        print(f"target 2 nodes >= 1.8x one node: {ratio:.2f}x, {verdict}")
    if one:
        added_s = statistics.median(one["latency"]) - local_latency
        verdict = "met" if added_s < 0.3 else "MISSED"
        print(f"target added first-segment latency < 0.3 s: {added_s:+.3f} s, {verdict}")


if __name__ == "__main__":
    main()
