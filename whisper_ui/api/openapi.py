"""/openapi.json as the API really behaves: validation errors are 400, not FastAPI's 422,
and behind the same login as every other API route when credentials are configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from whisper_ui.api.errors import API_PREFIXES, ERROR_DOCS


def install_openapi(app: FastAPI, owner: Callable[..., Awaitable[str]]) -> None:
    """Replace FastAPI's own (always public) schema route with one that needs `owner`."""
    url = app.openapi_url or "/openapi.json"
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != url]

    @app.get(url, include_in_schema=False, dependencies=[Depends(owner)])
    async def schema_route() -> JSONResponse:
        return JSONResponse(app.openapi())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path, operations in schema.get("paths", {}).items():
                if not path.startswith(API_PREFIXES):
                    continue
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None and "400" not in responses:
                        responses["400"] = {
                            "description": ERROR_DOCS[400]["description"],
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                                }
                            },
                        }
            components = schema.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
