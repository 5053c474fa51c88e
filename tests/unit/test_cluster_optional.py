"""The cluster is optional: without `cluster` nothing imports Ray, and a bad address is
a clear error that names it (issue 15, items 1 and 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import free_port
from whisper_ui.cluster.connect import ClusterError, check_reachable, split_address

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_server_never_imports_ray(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from whisper_ui.config import Settings
        from whisper_ui.services import build_services
        import app
        settings = Settings(data_dir={str(tmp_path)!r})
        app.create_app(settings, build_services(settings))
        import whisper_ui.cli, whisper_ui.cluster.connect
        loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
        print("RAY", loaded)
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "RAY []" in out.stdout


def test_ray_is_installed_for_the_cluster_tests() -> None:
    import ray  # the [cluster] extra; scripts/test.sh installs it

    assert ray.__version__.startswith("2.60.")


def test_an_unreachable_address_is_named() -> None:
    port = free_port()  # nothing listens there
    address = f"127.0.0.1:{port}"
    with pytest.raises(ClusterError, match=f"cannot reach the Ray cluster at {address}"):
        check_reachable(address, timeout_s=2)


@pytest.mark.parametrize("bad", ["", "host", "host:", ":6379", "host:port", "host:70000"])
def test_a_malformed_address_says_what_is_expected(bad: str) -> None:
    with pytest.raises(ClusterError, match="is not HOST:PORT"):
        split_address(bad)


@pytest.mark.parametrize("command", ["serve", "devices"])
def test_the_cli_refuses_an_unreachable_cluster_naming_it(command: str, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    args = [sys.executable, "-m", "whisper_ui.cli", command, "--cluster", address]
    if command == "serve":
        args += ["--data-dir", str(tmp_path), "--port", str(free_port())]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"cannot reach the Ray cluster at {address}" in out.stderr
    assert "Traceback" not in out.stderr
