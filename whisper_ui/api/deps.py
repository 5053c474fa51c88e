"""Who is asking: the owner of a request, and the jobs that owner may see.

With credentials configured every API route needs HTTP Basic or a Bearer API key;
without, everyone is "anonymous". Another user's job is reported as missing (404),
never forbidden (403), so job ids do not leak.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBearer

from whisper_ui.api.errors import not_found, too_many_attempts, unauthorized
from whisper_ui.auth import ANONYMOUS, Credentials, decode_basic
from whisper_ui.domain import Job
from whisper_ui.services import Services
from whisper_ui.throttle import LoginThrottle, retry_after_header


class _DocumentedBasic(HTTPBasic):
    """HTTP Basic as /openapi.json shows it, without FastAPI's own parsing: that decodes
    the credentials as ASCII and answers 401 for a user like `jörg` before our check
    (auth.Credentials.authenticate, UTF-8 as RFC 7617 says) runs."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


# Declared so that /openapi.json documents both schemes; the check itself is ours.
_basic = _DocumentedBasic(
    scheme_name="HTTPBasic", auto_error=False, description="A configured user and password"
)
_bearer = HTTPBearer(auto_error=False, description="An API key (api_keys in the settings)")

OwnerDependency = Callable[..., Awaitable[str]]


def owner_dependency(credentials: Credentials, throttle: LoginThrottle) -> OwnerDependency:
    """A FastAPI dependency that returns the request's owner, or raises 401 (wrong or no
    credentials) or 429 (too many wrong ones lately: throttle.py). A request without an
    Authorization header is not a guess and is not counted."""

    async def owner(
        request: Request,
        _b: object = Depends(_basic),
        _k: object = Depends(_bearer),
    ) -> str:
        if not credentials.enabled:
            return ANONYMOUS
        header = request.headers.get("authorization")
        claimed = decode_basic(header)
        user = claimed[0] if claimed else None
        address = request.client.host if request.client else None
        wait = throttle.wait_s(user, address)
        if wait > 0:
            raise too_many_attempts(retry_after_header(wait))
        who = credentials.authenticate(header)
        if who is None:
            if header:
                throttle.failed(user, address)
            raise unauthorized()
        throttle.succeeded(user)
        return who

    return owner


def owned_job(services: Services, job_id: str, owner: str) -> Job:
    """The job if it exists and belongs to `owner`; otherwise a 404 either way."""
    job = services.registry.get(job_id)
    if job is None or job.submitter != owner:
        raise not_found(f"no job with id {job_id!r}", "job_not_found")
    return job
