"""Which browser is asking: a long-lived random cookie, so a reload keeps your jobs.

Gradio's session hash changes on every page load; without a login, that would hide a
person's running jobs as soon as they refresh the tab. A pure ASGI middleware gives
each browser a random id cookie (HttpOnly, SameSite=Lax) on its first response.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLIENT_COOKIE = "whisper_ui_client"
MAX_AGE_S = 365 * 86400


def scope_cookies(scope: Scope) -> SimpleCookie:
    """The request's cookies, read straight from an ASGI scope (for middlewares); a
    malformed Cookie header counts as none (it is the client's problem)."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return SimpleCookie()
    return jar


def _cookie_from(scope: Scope) -> str | None:
    morsel = scope_cookies(scope).get(CLIENT_COOKIE)
    if morsel is not None and 16 <= len(morsel.value) <= 64:
        return morsel.value
    return None


class ClientIdMiddleware:
    """Adds the client id cookie to responses of requests that came without one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _cookie_from(scope) is not None:
            await self.app(scope, receive, send)
            return
        token = secrets.token_urlsafe(24)
        header = (
            f"{CLIENT_COOKIE}={token}; Path=/; Max-Age={MAX_AGE_S}; HttpOnly; SameSite=Lax"
        ).encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", header))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def client_id(cookies: Any) -> str | None:
    """The client id from a request's cookies mapping, if it looks like one of ours."""
    try:
        value = cookies.get(CLIENT_COOKIE)
    except AttributeError:
        return None
    return value if isinstance(value, str) and 16 <= len(value) <= 64 else None
