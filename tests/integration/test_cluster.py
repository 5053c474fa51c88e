"""Several machines, one queue (issue 15), on a real multi-node Ray cluster.

tests/cluster_scenario.py runs the cluster (a head that only serves and one-CPU worker
nodes, ray.cluster_utils) and whisper-ui's services inside a network namespace of its
own, so all of Ray's traffic is on loopback: on this machine Ray would otherwise
advertise the interface address. Token authentication is on (RAY_AUTH_MODE=token).
One run covers: jobs spread over both nodes, a node removed mid-job, a node that joins
later (with a damaged install of the `base` model, so that model fails to load there
only), the server restarting mid-job, the page's resources panel, the SSE stream and
job shape against a local server's, and which addresses Ray listens on.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.wer import wer
from tests.spoken import LONG
from whisper_ui.ui.view import escape_md

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    assert shutil.which("unshare") and shutil.which("ip"), "needs util-linux and iproute2"
    assert os.geteuid() == 0, "a network namespace needs root (CI runs as root)"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    script = f"ip link set lo up && exec {sys.executable} {ROOT / 'tests' / 'cluster_scenario.py'}"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True, text=True, timeout=280, cwd=ROOT, env=env,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, (done.stdout + done.stderr)[-4000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_every_node_is_listed_with_its_devices_and_slots(run: dict[str, Any]) -> None:
    nodes = run["resources_nodes"]
    assert len(nodes) == 2  # the head gives Ray no CPUs: it only serves
    for node in nodes:
        assert node["slots"] == 1 and node["cpus"] == 1.0  # its own plan, capped by Ray's CPUs
        assert node["devices"][0]["id"] == "cpu" and node["devices"][0]["free_bytes"] > 0
        assert node["pool"]["plan"][0]["workers"] == 1


def test_jobs_spread_over_both_nodes(run: dict[str, Any]) -> None:
    assert len(set(run["first_nodes"])) == 2


def test_a_node_removed_mid_job_loses_nothing_and_publishes_nothing_twice(
    run: dict[str, Any],
) -> None:
    long = run["long"]
    assert run["segments_before_removal"] >= 2
    assert long["status"] == "completed", long["error"]
    assert long["node"] != run["removed"] and long["attempts"] == 2
    assert long["ids"] == list(range(len(long["ids"])))  # contiguous: resumed, not redone
    assert long["published_ids"] == long["ids"]  # each segment reached subscribers once
    assert wer(LONG, long["text"]) < 0.15  # the words of an uninterrupted run
    assert run["short_status"] == "completed"


def test_a_node_that_joins_later_gets_work(run: dict[str, Any]) -> None:
    assert run["later_status"] == ["completed", "completed"]
    new = set(run["nodes_after_join"]) - set(run["nodes_at_start"])
    assert len(new) == 1 and new & set(run["later_nodes"])


def test_the_server_restarting_finds_the_cluster_and_resumes(run: dict[str, Any]) -> None:
    restart = run["restart"]
    assert restart["segments_before"] >= 2
    assert restart["status"] == "completed" and restart["node"]
    assert restart["ids"] == list(range(len(restart["ids"])))
    assert wer(LONG, restart["text"]) < 0.15


def test_the_page_lists_every_node_with_its_devices_and_slots(run: dict[str, Any]) -> None:
    panel = run["panel"]
    assert "**Cluster:** 2 nodes · 0 of 2 files at a time busy" in panel
    for name in run["nodes_at_start"]:  # host names, escaped (vm#1a2b3c -> vm\\#1a2b3c)
        assert f"**{escape_md(name)}**: CPU (" in panel
    assert panel.count("0 of 1 slot busy") == 2 and "GiB free of" in panel


def test_a_model_that_fails_to_load_on_one_node_runs_on_the_others(run: dict[str, Any]) -> None:
    failure = run["load_failure"]
    damaged = (set(run["nodes_after_join"]) - set(run["nodes_at_start"])).pop()
    assert "base" in failure["failed_models"][damaged]
    assert all(
        "base" not in models for n, models in failure["failed_models"].items() if n != damaged
    )
    for status, node, _, error in failure["base"]:
        assert status == "completed" and node != damaged, error
    assert max(attempts for *_, attempts, _ in failure["base"]) == 2  # tried there, then elsewhere
    tiny = failure["tiny"]  # the damaged node still runs what it can load
    assert [s for s, _ in tiny] == ["completed", "completed"] and damaged in {n for _, n in tiny}


def test_a_model_no_node_can_load_fails_its_job_naming_file_and_model(run: dict[str, Any]) -> None:
    status, error, model = run["load_failure"]["nowhere"]
    assert status == "failed"
    assert error.startswith("nowhere.wav: ") and f"model '{model}' failed to load" in error


def test_the_sse_stream_and_the_job_look_as_they_do_locally(run: dict[str, Any]) -> None:
    cluster, local = run["sse_cluster"], run["sse_local"]

    def kinds(events: list[list[Any]]) -> list[str]:
        out: list[str] = []
        for name, _ in events:
            if not out or out[-1] != name:  # as many progress events as segments: same run
                out.append(name)
        return out

    assert kinds(cluster["events"]) == kinds(local["events"])
    assert kinds(local["events"])[0] == "queued" and kinds(local["events"])[-1] == "completed"
    shapes = {name: keys for name, keys in local["events"]}
    for name, keys in cluster["events"]:
        assert keys == shapes[name], name
    assert cluster["job"] == local["job"]  # GET /api/jobs/{id}: the same fields
    assert cluster["node"] and local["node"] is None


def test_rays_ports_are_on_the_node_address_only_and_no_dashboard(run: dict[str, Any]) -> None:
    """In the namespace the node's address is 127.0.0.1: every socket Ray listens on is
    bound to it, none to every interface; no dashboard web UI (8265) is started."""
    listening = run["listening"]
    assert len(listening) >= 5  # GCS, two raylets (node manager, object manager), agents
    for address, port in listening:
        ip = ipaddress.ip_address(address)
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        assert ip.is_loopback or (mapped is not None and mapped.is_loopback), (address, port)
    assert 8265 not in {port for _, port in listening}
