"""The server as a user starts it: `python app.py` / `whisper-ui serve`, health over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(f"server did not start: {proc.communicate()[0]}")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_app_py_serves_health_and_prints_its_url(server: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = server
    body = httpx.get(f"{url}/api/health").json()
    assert body["status"] == "ok" and body["model"] == "tiny.en"
    assert body["queued"] == 0 and body["running"] == 0
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert f"open {url}/" in out
