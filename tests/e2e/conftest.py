"""End-to-end fixtures: the real server (`python app.py`) in a subprocess, on a free port.

Every test here drives the app the way a person does: over HTTP, through Gradio's own
client or a real Chromium. The server runs the real tiny.en model on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import running_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

# What tiny.en reliably hears in each fixture (tests/data/README.md).
KEY_WORDS = {
    "speech.wav": {"lazy", "tuesday", "weather", "sunny"},
    "long_speech.mp3": {"chapter", "ocean", "mountains"},
    "second_speech.wav": {"parked", "church"},
}


@pytest.fixture(scope="module")
def server_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder of the module's open server: what it keeps on disk."""
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def server(server_data: Path) -> Iterator[str]:
    """One open (no login) server per test module."""
    with running_server(server_data) as running:
        yield running.url


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that requires the login alice:secret."""
    data = tmp_path_factory.mktemp("auth-server")
    # grace is the user whose wrong passwords the throttle test spends.
    with running_server(data, "--auth", "alice:secret", "--auth", "grace:h0pper") as running:
        yield running.url
