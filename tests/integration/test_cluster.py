"""Several machines, one queue (issue 15), on a real multi-node Ray cluster.

tests/cluster_scenario.py runs the cluster (a head that only serves and one-CPU worker
nodes, ray.cluster_utils) and whisper-ui's services inside a network namespace of its
own, so all of Ray's traffic is on loopback: on this machine Ray would otherwise
advertise the interface address. Token authentication is on (RAY_AUTH_MODE=token).
One run covers: jobs spread over both nodes, a node removed mid-job, a node that joins
later, and the server restarting mid-job.
"""

from __future__ import annotations

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
