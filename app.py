"""Composition root of the server: Settings -> services -> FastAPI (+ Gradio UI) -> uvicorn.

`python app.py [flags]` is the same as `whisper-ui serve [flags]`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator

# No network at run time: set before gradio or huggingface_hub are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import FastAPI

from whisper_ui import __version__
from whisper_ui.api import include_api
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings
from whisper_ui.services import Services, build_services


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the ASGI app; the dispatcher starts and stops with uvicorn's lifespan."""
    services = services or build_services(settings)
    credentials = Credentials.build(settings.auth, settings.auth_file, settings.api_keys)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    api = FastAPI(title="whisper-ui", version=__version__, lifespan=lifespan)
    api.state.services = services
    include_api(api, services, credentials)
    return api


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, for the --lan banner."""
    import psutil

    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                found.append(addr.address)
    return sorted(set(found))


def serve(settings: Settings, *, lan: bool = False) -> None:
    """Run the app under uvicorn and print where to open it."""
    import uvicorn

    application = create_app(settings)
    hosts = lan_addresses() if lan or settings.host == "0.0.0.0" else [settings.host]
    for host in hosts or ["127.0.0.1"]:
        print(f"whisper-ui: open http://{host}:{settings.port}/", flush=True)
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    from whisper_ui.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
