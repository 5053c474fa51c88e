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

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisper_ui.api.errors import error_json

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
GUARDED_PREFIXES = ("/api/", "/v1/")
FRAME_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def foreign_reason(scope: Scope) -> str | None:
    """Why this request comes from another site, or None when it does not (or when no
    browser sent it)."""
    headers = Headers(scope=scope)
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {fetch_site!r}"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = headers.get("host")
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
                message = (
                    f"refused: {reason}; this API accepts changes only from its own page "
                    "or from programs (curl, API clients)"
                )
                body = error_json(403, message, "permission_error", "cross_site_request")
                await JSONResponse(body, status_code=403, headers=FRAME_HEADERS)(
                    scope, receive, send
                )
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FRAME_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
