"""HTTP API mounted beside the UI: health and resources (jobs and OpenAI routes join here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from whisper_ui import __version__
from whisper_ui.auth import Credentials
from whisper_ui.services import Services


def include_api(app: FastAPI, services: Services, credentials: Credentials) -> None:
    """Register every API route on `app`."""
    router = APIRouter(prefix="/api")

    @router.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        """Liveness and a one-line view of the load; cheap enough to poll."""
        jobs = services.dispatcher.jobs()
        return {
            "status": "ok",
            "version": __version__,
            "model": services.settings.model,
            "queued": len(services.queue),
            "running": sum(1 for j in jobs if j.status.value == "running"),
        }

    @router.get("/resources", tags=["health"])
    async def resources() -> dict[str, Any]:
        """Devices (free/total memory, utilization, temperature) and the pool's slots."""
        return services.status()

    app.include_router(router)
