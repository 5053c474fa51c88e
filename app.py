"""Composition root of the server: Settings -> services -> FastAPI (+ Gradio UI) -> uvicorn.

`python app.py [flags]` is the same as `whisper-ui serve [flags]`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

# No network at run time: set before gradio or huggingface_hub are imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import FastAPI
from starlette.routing import Mount

from whisper_ui import __version__
from whisper_ui.api import include_api
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings
from whisper_ui.services import Services, build_services
from whisper_ui.throttle import LoginThrottle
from whisper_ui.ui.files import FileGrants, FileRouteGuard, GradioLogins
from whisper_ui.ui.identity import ClientIdMiddleware
from whisper_ui.ui.login import (
    ClientAddressMiddleware,
    LoginPageScriptMiddleware,
    login_checker,
)


def create_app(
    settings: Settings,
    services: Services | None = None,
    credentials: Credentials | None = None,
) -> FastAPI:
    """Build the ASGI app; the dispatcher starts and stops with uvicorn's lifespan."""
    services = services or build_services(settings, persist=True)
    if credentials is None:
        credentials = Credentials.build(settings.auth, settings.auth_file, settings.api_keys)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    # No /docs or /redoc: they load Swagger/ReDoc from a CDN. The schema is /openapi.json.
    api = FastAPI(
        title="whisper-ui", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    api.state.services = services
    throttle = LoginThrottle()  # one count of wrong passwords for the API and the page
    include_api(api, services, credentials, throttle)
    api.add_middleware(ClientIdMiddleware)
    api.add_middleware(ClientAddressMiddleware)
    if credentials.users:
        api.add_middleware(LoginPageScriptMiddleware)
    return mount_ui(api, settings, services, credentials, throttle)


def mount_ui(
    api: FastAPI,
    settings: Settings,
    services: Services,
    credentials: Credentials,
    throttle: LoginThrottle,
) -> FastAPI:
    """Mount the Gradio UI at / on the FastAPI app (never also launch() it)."""
    data_dir = settings.resolved_data_dir
    # Gradio copies uploads here first; keep them on the data disk, not in /tmp.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(data_dir / "gradio-tmp"))
    import gradio as gr

    from whisper_ui.ui.app import CSS, build_ui

    ui = build_ui(services, data_dir)
    logins = GradioLogins()
    if credentials.users:  # owners to check on every file route (ui/files.py)
        ui.downloads.grants = FileGrants(Path(os.environ["GRADIO_TEMP_DIR"]))
        ui.downloads.logins = logins
    api.include_router(ui.downloads.router())  # before the UI takes every other path
    mounted: FastAPI = gr.mount_gradio_app(
        api,
        ui.build(),
        path="/",
        auth=login_checker(credentials, throttle) if credentials.users else None,
        auth_message="whisper-ui: log in to transcribe" if credentials.users else None,
        allowed_paths=[str(data_dir / "exports")],
        max_file_size=f"{settings.max_upload_mb}mb",
        footer_links=["api"],
        ssr_mode=False,
        css=CSS,
    )
    if ui.downloads.grants is not None:
        logins.attach(next(r.app for r in mounted.routes if isinstance(r, Mount) and r.path == ""))
        mounted.add_middleware(
            FileRouteGuard,
            data_dir=data_dir,
            registry=services.registry,
            grants=ui.downloads.grants,
            logins=logins,
        )
    return mounted


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, for the --lan banner."""
    import psutil

    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                found.append(addr.address)
    return sorted(set(found))


def banner(settings: Settings, credentials: Credentials) -> list[str]:
    """The lines printed at start: every URL to open, and a warning for an open LAN server."""
    port = settings.port
    if settings.host in ("0.0.0.0", "::"):
        hosts = ["127.0.0.1", *lan_addresses()]
    else:
        hosts = [settings.host]
    lines = [f"whisper-ui: open http://{host}:{port}/" for host in hosts]
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not credentials.users:
        lines.append(
            "whisper-ui: WARNING: no login is configured, so anyone who can reach this "
            "machine on the network can use it and see what is transcribed. "
            "Add --auth USER:PASS (or --auth-file FILE)."
        )
    return lines


def _try_share_link(port: int) -> None:
    """Ask Gradio's share server for a public link; offline this fails and we say so."""
    import secrets

    try:
        from gradio.networking import setup_tunnel

        url = setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
        print(f"whisper-ui: public share link: {url}", flush=True)
    except Exception as exc:  # offline, firewall, missing frpc binary: all the same to a user
        print(
            f"whisper-ui: could not create a share link ({type(exc).__name__}: {exc}); "
            "still serving on the addresses above",
            flush=True,
        )


def serve(settings: Settings) -> None:
    """Run the app under uvicorn and print where to open it."""
    import threading

    import uvicorn

    credentials = Credentials.build(settings.auth, settings.auth_file, settings.api_keys)
    application = create_app(settings, credentials=credentials)
    for line in banner(settings, credentials):
        print(line, flush=True)
    if settings.share:
        threading.Thread(target=_try_share_link, args=(settings.port,), daemon=True).start()
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    from whisper_ui.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
