"""End-to-end fixtures: the real server (`python app.py`) in a subprocess, on a free port.

Every test here drives the app the way a person does: over HTTP, through Gradio's own
client or a real Chromium. The server runs the real tiny.en model on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

START_TIMEOUT_S = 60
# What tiny.en reliably hears in each fixture (tests/data/README.md).
KEY_WORDS = {
    "speech.wav": {"lazy", "tuesday", "weather", "sunny"},
    "long_speech.mp3": {"chapter", "ocean", "mountains"},
    "second_speech.wav": {"parked", "church"},
}


@contextmanager
def run_server(data_dir: Path, *extra: str) -> Iterator[str]:
    """Start `python app.py` on a free port; yield its URL once it answers; stop it after."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (data_dir / "server.log").open("w")
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{_tail(data_dir)}")
            try:
                # 401: up, behind a login (the health route needs credentials then too).
                if httpx.get(f"{url}/api/health", timeout=1).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start in {START_TIMEOUT_S} s:\n{_tail(data_dir)}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _tail(data_dir: Path) -> str:
    return (data_dir / "server.log").read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def server_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the module's open server: what it keeps on disk."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def server(server_data: Path) -> Iterator[str]:
    """One open (no login) server per test module."""
    with run_server(server_data) as url:
        yield url


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that requires the login alice:secret."""
    with run_server(tmp_path_factory.mktemp("auth-server"), "--auth", "alice:secret") as url:
        yield url
