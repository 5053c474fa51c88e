"""The page's login, throttled like the API's Basic check (whisper_ui/throttle.py).

Gradio calls the `auth` callable with only (username, password), so the client's
address comes from a context variable that `ClientAddressMiddleware` sets for each
request (Gradio's login route calls the callable in the request's own task). A locked
user or address gets FastAPI's 429 with Retry-After from inside that callable, before
the password is compared. Gradio's login form shows nothing for a 429, so
`LoginPageScriptMiddleware` adds `LOGIN_SCRIPT` to the page, which puts a line under
the form that says how long to wait. (Gradio's own `head=` is not on the login page:
before a login the page's config holds only the login fields.)
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from fastapi import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whisper_ui.auth import Credentials
from whisper_ui.throttle import LoginThrottle, retry_after_header

_client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "whisper_ui_client_address", default=None
)


class ClientAddressMiddleware:
    """Makes the request's client address visible to code Gradio calls without it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        token = _client_address.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _client_address.reset(token)


def login_checker(credentials: Credentials, throttle: LoginThrottle) -> Callable[[str, str], bool]:
    """The `auth` callable for gr.mount_gradio_app: True for a right password, False
    for a wrong one (Gradio answers 400), HTTPException 429 while locked."""

    def check(username: str, password: str) -> bool:
        address = _client_address.get()
        wait = throttle.wait_s(username, address)
        if wait > 0:
            seconds = retry_after_header(wait)
            raise HTTPException(
                status_code=429,
                detail=f"Too many wrong passwords. Try again in {seconds} s.",
                headers={"Retry-After": seconds},
            )
        if credentials.check_password(username, password):
            throttle.succeeded(username)
            return True
        throttle.failed(username, address)
        return False

    return check


# Gradio's login form reacts to 400 and 200 only; this shows the 429's message under it.
LOGIN_SCRIPT = """<script>
(() => {
  const fetchBefore = window.fetch;
  const say = (text) => {
    // Next to Gradio's own "Incorrect Credentials" line, in its style, which it hides.
    const creds = document.querySelector("p.creds");
    let line = document.getElementById("login-throttled");
    if (text === null) {
      if (line) line.remove();
      if (creds) creds.hidden = false;
      return;
    }
    if (!line) {
      const auth = document.querySelector("p.auth");
      line = document.createElement("p");
      line.id = "login-throttled";
      line.setAttribute("role", "alert");
      line.className = (creds || auth) ? (creds || auth).className.replace("auth", "creds") : "";
      const after = creds || auth;
      if (after) after.after(line); else document.body.prepend(line);
    }
    if (creds) creds.hidden = true;
    line.textContent = text;
  };
  window.fetch = async (...args) => {
    const response = await fetchBefore(...args);
    try {
      const target = args[0] instanceof Request ? args[0].url : String(args[0]);
      if (/\\/login\\/?$/.test(new URL(target, location.href).pathname)) {
        if (response.status === 429) {
          const body = await response.clone().json().catch(() => ({}));
          const wait = response.headers.get("Retry-After") || "a few";
          say(typeof body.detail === "string"
            ? body.detail : `Too many wrong passwords. Try again in ${wait} s.`);
        } else {
          say(null);
        }
      }
    } catch (error) {
      console.warn("whisper-ui: login message", error);
    }
    return response;
  };
})();
</script>"""


class LoginPageScriptMiddleware:
    """Adds LOGIN_SCRIPT to the HTML of the page (GET /, the only page): the body is a
    small template render, buffered and given a new Content-Length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_with_script(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                html = headers.get("content-type", "").startswith("text/html")
                if not html or "content-encoding" in headers:
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks).replace(b"</head>", LOGIN_SCRIPT.encode() + b"</head>", 1)
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-length"] = str(len(body))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_script)
