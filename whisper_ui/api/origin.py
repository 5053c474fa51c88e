"""A page on another site cannot change anything here, nor frame this one.

A browser on the LAN that visits a hostile page can be made to post a form to
`POST /api/jobs` (forms cross origins freely, and a browser that holds Basic
credentials sends them along). Browsers say where a request comes from
(`Sec-Fetch-Site`, and `Origin` on every POST); programs such as curl, the `openai`
client and `gradio_client` send neither. So a state-changing API request is refused
when a browser says it comes from another site, and allowed when no browser is
involved. Every response also forbids framing (clickjacking).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from whisper_ui.api.errors import error_json

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
GUARDED_PREFIXES = ("/api/", "/v1/")
FRAME_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def foreign_reason(scope: Scope) -> str | None:
    """Why this request comes from another site, or None when it does not (or when no
    browser sent it)."""
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {fetch_site!r}"
    origin = _header(scope, b"origin")
    if origin is None:
        return None
    host = _header(scope, b"host")
    scheme = scope.get("scheme", "http")
    if host is None or origin.lower() != f"{scheme}://{host}".lower():
        return "the Origin is another site"
    return None


class SameOriginMiddleware:
    """Refuse cross-site writes to the API with 403; forbid framing on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if scope.get("method", "GET") not in SAFE_METHODS and path.startswith(GUARDED_PREFIXES):
            reason = foreign_reason(scope)
            if reason is not None:
                await _refuse(send, reason)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(k).lower() for k, _ in headers}
                headers += [(k, v) for k, v in FRAME_HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, reason: str) -> None:
    message = (
        f"refused: {reason}; this API accepts changes only from its own page "
        "or from programs (curl, API clients)"
    )
    body = json.dumps(error_json(403, message, "permission_error", "cross_site_request")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *FRAME_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
