"""One error shape for the whole API: `{"error": {"message", "type", "code"}}`.

OpenAI's clients read exactly this shape, so the jobs API uses it too: a client
needs one error parser, and FastAPI's default 422 becomes a 400 in the same shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from whisper_ui.domain import JobStateError
from whisper_ui.jobs.queue import QueueFull
from whisper_ui.options import OptionsError

API_PREFIXES = ("/api/", "/v1/")
WWW_AUTHENTICATE = 'Basic realm="whisper-ui", Bearer realm="whisper-ui"'


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


class ApiError(Exception):
    """Raised by routes; rendered as ErrorResponse with `status` and `headers`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.headers = headers or {}


def bad_request(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, code)


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(404, message, code)


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "missing or wrong credentials: use HTTP Basic (user:password) or 'Authorization: "
        "Bearer <api key>'",
        "invalid_credentials",
        type="authentication_error",
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def too_many_attempts(retry_after: str) -> ApiError:
    return ApiError(
        429,
        f"too many wrong passwords from this user or address: try again in {retry_after} s",
        "too_many_attempts",
        type="rate_limit_error",
        headers={"Retry-After": retry_after},
    )


def too_large(limit_mb: int) -> ApiError:
    return ApiError(
        413,
        f"the upload is larger than the server's limit of {limit_mb} MB",
        "file_too_large",
    )


def error_json(status: int, message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code}}


def _response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_json(exc.status, exc.message, exc.type, exc.code),
        status_code=exc.status,
        headers=exc.headers,
    )


def from_domain(exc: Exception) -> ApiError:
    """Map the engine's exceptions to API errors (the only place that knows the statuses)."""
    if isinstance(exc, QueueFull):
        return ApiError(
            429,
            str(exc),
            "queue_full",
            type="rate_limit_error",
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, OptionsError):
        return bad_request(str(exc), "invalid_option")
    if isinstance(exc, JobStateError):
        return ApiError(409, str(exc), "wrong_state")
    raise exc


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """API paths answer in ErrorResponse; other paths (the UI) keep FastAPI's defaults."""

    async def on_api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _response(exc)

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        return _response(from_domain(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not _is_api(request):
            return await request_validation_exception_handler(request, exc)
        return _response(bad_request(_validation_message(exc), "validation_error"))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_api(request):
            return await http_exception_handler(request, exc)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_json(exc.status_code, str(exc.detail), "invalid_request_error", code),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(ApiError, on_api_error)
    for domain_error in (QueueFull, OptionsError, JobStateError):
        app.add_exception_handler(domain_error, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERROR_DOCS: dict[int, dict[str, Any]] = {
    400: _doc("Not an audio/video file, or an invalid option or parameter"),
    401: _doc("Missing or wrong credentials (only when the server has credentials)"),
    404: _doc("No such job for this user (other users' jobs are 404 too)"),
    409: _doc("The job is in the wrong state for this request"),
    413: _doc("The upload is larger than max_upload_mb"),
    429: _doc(
        "The queue is full, or too many wrong passwords; retry after the Retry-After "
        "header's seconds"
    ),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these error statuses in the OpenAPI schema."""
    return {status: ERROR_DOCS[status] for status in (401, *statuses)}
