"""The server as a user starts it: `python app.py` / `whisper-ui serve`, health over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server import start_server, stop_server


def test_app_py_serves_health_and_prints_its_url(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        body = httpx.get(f"{server.url}/api/health").json()
        assert body["status"] == "ok" and body["model"] == "tiny.en"
        assert body["queued"] == 0 and body["running"] == 0
    finally:
        stop_server(server)
    assert f"open {server.url}/" in server.output()
