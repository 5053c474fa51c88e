"""Another machine on the LAN, with a password: a client in its own network namespace.

The "LAN" is a veth pair between this machine and a network namespace the test makes
(10.213.0.1 here, 10.213.0.2 there); nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.server import start_server, stop_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HOST_IP, PEER_IP = "10.213.0.1", "10.213.0.2"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


@pytest.fixture
def peer() -> Iterator[str]:
    """A network namespace wired to this host by a veth pair; yields its name."""
    assert shutil.which("ip"), "iproute2 is needed (apt-get install iproute2)"
    assert os.geteuid() == 0, "network namespaces need root (CI runs as root)"
    name = f"wui{uuid.uuid4().hex[:6]}"
    host_if, peer_if = f"{name}a", f"{name}b"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", name)
        sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{PEER_IP}/24", "dev", peer_if)
        sh("ip", "netns", "exec", name, "ip", "link", "set", peer_if, "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def in_peer(netns: str, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip


def test_a_colleague_on_the_lan_logs_in_and_transcribes(peer: str, tmp_path: Path) -> None:
    server = start_server(tmp_path, "--lan", "--auth", "alice:pa55word", port=free_port("0.0.0.0"))
    port = server.port
    try:
        url = f"http://{HOST_IP}:{port}"
        result = in_peer(
            peer,
            f"""
            import httpx
            from gradio_client import Client, handle_file
            assert httpx.get("{url}/config", timeout=10).status_code == 401
            try:
                Client("{url}/", auth=("alice", "wrong"), analytics_enabled=False, verbose=False)
            except Exception as exc:
                print("wrong password refused:", type(exc).__name__)
            else:
                raise SystemExit("a wrong password was accepted")
            client = Client("{url}/", auth=("alice", "pa55word"), analytics_enabled=False,
                            verbose=False)
            out = client.predict([handle_file("tests/data/second_speech.wav")], "tiny.en",
                                 "auto", "transcribe", 5, False, False, "off", ["txt"],
                                 api_name="/transcribe")
            print("TRANSCRIPT:", out[2])
            """,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "wrong password refused" in result.stdout
        transcript = result.stdout.split("TRANSCRIPT:", 1)[1].lower()
        assert "parked" in transcript and "church" in transcript
    finally:
        stop_server(server)
    out = server.output()
    assert f"open http://{HOST_IP}:{port}/" in out, "the banner lists the LAN address"
    assert "WARNING" not in out, "no open-LAN warning when a login is required"
