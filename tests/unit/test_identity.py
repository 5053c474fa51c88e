"""The client-id cookie: set once, kept, and read back as the UI's owner."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from whisper_ui.ui.app import owner_of
from whisper_ui.ui.identity import CLIENT_COOKIE, ClientIdMiddleware, client_id


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(ClientIdMiddleware)

    @app.get("/who")
    async def who(request: Request) -> dict[str, str | None]:
        return {"id": client_id(request.cookies)}

    return app


async def test_first_response_sets_a_cookie_and_later_requests_keep_it() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.get("/who")
        assert first.json() == {"id": None}
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"{CLIENT_COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        second = await client.get("/who")
        assert "set-cookie" not in second.headers
        token = second.json()["id"]
        assert token and client.cookies[CLIENT_COOKIE] == token


def test_owner_prefers_login_then_browser_then_session() -> None:
    class Req:
        def __init__(self, username: str | None, cookies: dict[str, str]) -> None:
            self.username = username
            self.cookies = cookies
            self.session_hash = "abc"

    browser = "x" * 32
    assert owner_of(Req("alice", {CLIENT_COOKIE: browser})) == "alice"  # type: ignore[arg-type]
    assert owner_of(Req(None, {CLIENT_COOKIE: browser})) == f"browser:{browser}"  # type: ignore[arg-type]
    assert owner_of(Req(None, {CLIENT_COOKIE: "short"})) == "session:abc"  # type: ignore[arg-type]
    assert owner_of(None) == "anonymous"
