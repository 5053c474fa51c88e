"""Logins over the API, in process (ASGI client, the real services): non-ASCII users and
passwords work as they do on the page, and with a login on nothing answers anonymously,
the schema included."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA, in_process_api
from whisper_ui.auth import Credentials
from whisper_ui.config import Settings

pytestmark = pytest.mark.integration
JOERG = ("jörg", "pässwörd")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    credentials = Credentials.build([":".join(JOERG), "alice:secret"])
    settings = Settings(data_dir=tmp_path, concurrency=1)
    async with in_process_api(settings, credentials) as (http, _):
        yield http


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header with the credentials in UTF-8 (RFC 7617)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


async def test_a_non_ascii_user_and_password_log_in_to_the_api(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/jobs", headers=basic(*JOERG))
    assert r.status_code == 200, r.text
    wrong = await client.get("/api/jobs", headers=basic(JOERG[0], "passwort"))
    assert wrong.status_code == 401
    # httpx's own auth= encodes the same way
    assert (await client.get("/api/health", auth=JOERG)).status_code == 200


async def test_a_malformed_basic_header_is_401_not_500(client: httpx.AsyncClient) -> None:
    for value in ("Basic %%%", "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic"):
        r = await client.get("/api/jobs", headers={"Authorization": value})
        assert r.status_code == 401, (value, r.text)


async def test_the_schema_needs_a_login_when_one_is_configured(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/openapi.json")).status_code == 401
    r = await client.get("/openapi.json", auth=("alice", "secret"))
    assert r.status_code == 200
    schema = r.json()
    assert "/api/jobs" in schema["paths"]
    assert "/openapi.json" not in schema["paths"]
    assert "HTTPBasic" in str(schema["components"]["securitySchemes"])


def speech() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", ("speech.wav", (DATA / "speech.wav").read_bytes(), "audio/wav"))]


async def test_a_form_posted_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    """What a hostile page's auto-submitted form sends, with the browser's saved login."""
    for headers in (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},  # an older browser: no Sec-Fetch-*
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain of this host
        {"Origin": "null"},  # a sandboxed frame
    ):
        r = await client.post(
            "/api/jobs", files=speech(), auth=("alice", "secret"), headers=headers
        )
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["error"]["code"] == "cross_site_request"
    jobs = (await client.get("/api/jobs", auth=("alice", "secret"))).json()["jobs"]
    assert jobs == [], "nothing was created"
    assert (await client.post("/v1/audio/transcriptions", headers=headers)).status_code == 403


async def test_programs_and_the_own_page_still_submit(client: httpx.AsyncClient) -> None:
    """curl, the openai client and gradio_client send no Origin; the own page's does match."""
    plain = await client.post("/api/jobs", files=speech(), auth=("alice", "secret"))
    assert plain.status_code == 202, plain.text
    own = await client.post(
        "/api/jobs", files=speech(), auth=("alice", "secret"),
        headers={"Origin": "http://test", "Sec-Fetch-Site": "same-origin"},
    )  # fmt: skip
    assert own.status_code == 202, own.text
    for job in (*plain.json()["jobs"], *own.json()["jobs"]):
        r = await client.delete(f"/api/jobs/{job['id']}", auth=("alice", "secret"))
        assert r.status_code in (202, 409)
    # Reading is not a change: a cross-site GET gets the answer (and the browser's CORS
    # rules keep it from the foreign page).
    r = await client.get("/api/health", auth=("alice", "secret"), headers={"Origin": "http://x"})
    assert r.status_code == 200


async def test_no_response_may_be_framed(client: httpx.AsyncClient) -> None:
    for r in (
        await client.get("/api/health", auth=("alice", "secret")),
        await client.get("/api/health"),
        await client.post("/api/jobs", headers={"Origin": "http://evil.example"}),
    ):
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
