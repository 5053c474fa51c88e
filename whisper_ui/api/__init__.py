"""HTTP API mounted beside the UI: health, resources, the jobs API and OpenAI's /v1 routes.

`include_api` is the single entry point app.py calls. Every route answers errors in
one JSON shape (errors.py) and, when credentials are configured, needs them
(deps.py) — health included, so an open port reveals nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from whisper_ui import __version__
from whisper_ui.api.catalog import models_router
from whisper_ui.api.deps import owner_dependency
from whisper_ui.api.edits import edits_router
from whisper_ui.api.errors import errors, install_error_handlers
from whisper_ui.api.jobs import jobs_router
from whisper_ui.api.openai import openai_router
from whisper_ui.api.openapi import install_openapi
from whisper_ui.api.origin import SameOriginMiddleware
from whisper_ui.api.search import search_router
from whisper_ui.api.voices import voices_router
from whisper_ui.auth import Credentials
from whisper_ui.domain import JobStatus
from whisper_ui.services import Services
from whisper_ui.throttle import LoginThrottle


def include_api(
    app: FastAPI,
    services: Services,
    credentials: Credentials,
    throttle: LoginThrottle | None = None,
) -> None:
    """Register every API route, the error handlers and the schema fix-ups on `app`.

    `throttle` is shared with the page's login (app.py) so both count the same failures.
    """
    owner = owner_dependency(credentials, throttle or LoginThrottle())
    router = APIRouter(prefix="/api", dependencies=[Depends(owner)])

    @router.get("/health", tags=["health"], responses=errors())
    async def health() -> dict[str, Any]:
        """Liveness and a one-line view of the load; cheap enough to poll."""
        return {
            "status": "ok",
            "version": __version__,
            "model": services.settings.model,
            "queued": len(services.queue),
            "running": services.registry.count(JobStatus.RUNNING),
        }

    @router.get("/resources", tags=["health"], responses=errors())
    async def resources() -> dict[str, Any]:
        """Devices (free/total memory, utilization, temperature) and the pool's slots."""
        return services.status()

    app.include_router(router)
    app.include_router(jobs_router(services, owner))
    app.include_router(edits_router(services, owner))
    app.include_router(search_router(services, owner))
    app.include_router(voices_router(services, owner))
    app.include_router(openai_router(services, owner))
    app.include_router(models_router(services, owner))
    install_error_handlers(app)
    install_openapi(app, owner)
    app.add_middleware(SameOriginMiddleware)
