"""/openapi.json is truthful enough for a fuzzer: schemathesis finds no 5xx on any route.

The server is the real composition (app.create_app, UI mounted) so the schema checked
is the one users get. Examples are derandomized and bounded, so the run is repeatable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app import create_app
from tests.conftest import free_port
from whisper_ui.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("schema"), concurrency=2))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def api_schema(server_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_route_answers_5xx(case: Any) -> None:
    case.call_and_validate(checks=[not_a_server_error], timeout=30)


def test_the_schema_documents_errors_uploads_and_auth(server_url: str) -> None:
    doc = httpx.get(f"{server_url}/openapi.json").json()
    paths = doc["paths"]
    expected = {
        "/api/health": {"get"},
        "/api/resources": {"get"},
        "/api/jobs": {"get", "post"},
        "/api/jobs/{job_id}": {"get", "delete"},
        "/api/jobs/{job_id}/events": {"get"},
        "/api/jobs/{job_id}/transcript": {"get"},
        "/api/jobs/{job_id}/retry": {"post"},
        "/v1/audio/transcriptions": {"post"},
        "/v1/audio/translations": {"post"},
        "/v1/models": {"get"},
        "/v1/models/{model_id}": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
        for method in methods:
            responses = paths[path][method]["responses"]
            assert "422" not in responses, (path, method)
            assert "401" in responses
    submit = paths["/api/jobs"]["post"]
    assert submit["responses"].keys() >= {"202", "400", "413", "429"}
    body = submit["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["files"]
    assert body["properties"]["files"]["items"]["format"] == "binary"
    assert body["properties"]["beam_size"]["maximum"] == 20
    openai_body = paths["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    fields = openai_body["multipart/form-data"]["schema"]["properties"]
    assert {"file", "model", "response_format", "timestamp_granularities[]", "stream"} <= set(
        fields
    )
    assert set(fields["response_format"]["enum"]) == {
        "json", "text", "srt", "verbose_json", "vtt", "diarized_json"
    }  # fmt: skip
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    assert {"HTTPBasic", "HTTPBearer"} <= set(doc["components"]["securitySchemes"])
