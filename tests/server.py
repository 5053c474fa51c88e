"""The real server (`python app.py`) in a subprocess, for tests that need the process.

One helper for every test that starts the app as a user does (the e2e fixtures, the
security, LAN, crash and app tests): a free port, an offline environment, its output
in `<data_dir>/server.log`, a deadline to answer, and a stop that cannot hang.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60
OFFLINE = {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def inherited() -> dict[str, str]:
    """This process's environment without GRADIO_TEMP_DIR: an in-process app of an
    earlier test sets it (app.mount_ui), and a server must use its own data dir."""
    return {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}


@dataclass(frozen=True)
class Server:
    """A started `app.py`: where it answers (`url` on 127.0.0.1), its port and process."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything it has printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")


def start_server(
    data_dir: Path,
    *args: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start `python app.py --port P --data-dir D *args`; return once it answers HTTP.

    A 401 counts as up (the app is behind a login). Fails the test with the server's
    output if it exits or does not answer within START_TIMEOUT_S.
    """
    port = free_port() if port is None else port
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port),
             "--data-dir", str(data_dir), *args],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**inherited(), **OFFLINE, **(env or {})},
        )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{server.output()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=1).status_code in (200, 401):
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(f"server did not answer in {START_TIMEOUT_S} s:\n{server.output()[-4000:]}")
        time.sleep(0.2)


def stop_server(server: Server, *, kill: bool = False) -> None:
    """Stop it (SIGTERM, or SIGKILL with `kill`), escalating to SIGKILL after 15 s."""
    if server.proc.poll() is not None:
        return
    server.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


@contextmanager
def running_server(
    data_dir: Path,
    *args: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """`start_server` for a `with` block; the server is stopped when it ends."""
    server = start_server(data_dir, *args, port=port, env=env)
    try:
        yield server
    finally:
        stop_server(server)
