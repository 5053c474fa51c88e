"""With credentials configured nothing is anonymous, users are isolated, secrets never logged."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA
from tests.server import running_server
from tests.ui_outputs import action

pytestmark = pytest.mark.integration
ALICE, BOB = ("alice", "Al1ce-Pa55"), ("bob", "B0b-Secret")
KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    data = tmp_path_factory.mktemp("secure")
    env = {"WHISPER_UI__API_KEYS": f'{{"{KEY}": "alice"}}', "WHISPER_UI__MAX_UPLOAD_MB": "1"}
    logins = ("--auth", ":".join(ALICE), "--auth", ":".join(BOB))
    with running_server(data, "-v", *logins, env=env) as running:
        yield running.url, data, running.log


def api_submit(url: str, auth: tuple[str, str], name: str) -> dict[str, object]:
    r = httpx.post(
        f"{url}/api/jobs", auth=auth, timeout=60,
        files=[("files", (name, (DATA / name).read_bytes()))], data={"beam_size": "1"},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    job: dict[str, object] = r.json()["jobs"][0]
    return job


def wait_done(url: str, auth: tuple[str, str], job_id: object) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/api/jobs/{job_id}", auth=auth).json()["status"] not in (
        "completed", "failed", "cancelled",
    ):  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_every_route_refuses_anonymous_access(server: tuple[str, Path, Path]) -> None:
    url, data, _ = server
    job = api_submit(url, ALICE, "speech.wav")
    wait_done(url, ALICE, job["id"])
    upload = next((data / "uploads").glob("*/speech.wav"))
    routes = [
        "/config", "/api/health", "/api/resources", "/api/jobs", f"/api/jobs/{job['id']}",
        f"/api/jobs/{job['id']}/transcript", f"/api/jobs/{job['id']}/events", "/v1/models",
        f"/gradio_api/file={upload}", f"/gradio_api/file={data / 'exports'}",
    ]  # fmt: skip
    for route in routes:
        r = httpx.get(url + route, timeout=10)
        assert r.status_code in (401, 403), (route, r.status_code)
    # Gradio 6 has no legacy /file= route any more: it must not serve the file either.
    assert httpx.get(f"{url}/file={upload}", timeout=10).status_code in (401, 403, 404)
    for method, route in [("POST", "/api/jobs"), ("POST", "/v1/audio/transcriptions"),
                          ("DELETE", f"/api/jobs/{job['id']}"),
                          ("POST", f"/api/jobs/{job['id']}/retry")]:  # fmt: skip
        r = httpx.request(method, url + route, timeout=10)
        assert r.status_code == 401, (method, route, r.status_code)
    # The page itself is only Gradio's shell (its login form is drawn by script): none of
    # the app's content or configuration is in it.
    page = httpx.get(url + "/", timeout=10)
    assert "transcribe many files" not in page.text and "speech.wav" not in page.text
    # Wrong passwords and keys are refused too.
    assert httpx.get(f"{url}/api/jobs", auth=(ALICE[0], "nope")).status_code == 401
    bad_key = {"Authorization": "Bearer sk-wrong"}
    assert httpx.get(f"{url}/api/jobs", headers=bad_key).status_code == 401
    good_key = {"Authorization": f"Bearer {KEY}"}
    assert httpx.get(f"{url}/api/jobs/{job['id']}", headers=good_key).status_code == 200


def test_users_never_see_each_others_jobs(server: tuple[str, Path, Path]) -> None:
    from gradio_client import Client

    url, _, _ = server
    job = api_submit(url, ALICE, "second_speech.wav")
    wait_done(url, ALICE, job["id"])
    job_id = job["id"]
    for route in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/transcript"):
        assert httpx.get(url + route, auth=BOB).status_code == 404
    assert httpx.delete(f"{url}/api/jobs/{job_id}", auth=BOB).status_code == 404
    assert httpx.post(f"{url}/api/jobs/{job_id}/retry", auth=BOB).status_code == 404
    assert job_id not in httpx.get(f"{url}/api/jobs", auth=BOB).text
    # In the UI, bob's table lists none of alice's files and he cannot act on her job.
    bob = Client(f"{url}/", auth=BOB, analytics_enabled=False, verbose=False)
    view = bob.predict(api_name="/watch")
    assert "second_speech.wav" not in str(view[1]) and "speech.wav" not in str(view[1])
    for verb in ("open", "cancel", "retry", "delete"):  # her job is as if absent to him
        answer = bob.predict(action(str(job_id), verb), api_name="/act")
        assert "no longer in the list" in str(answer[0]), (verb, answer[0])
    mine = httpx.get(f"{url}/api/jobs", auth=ALICE).json()["jobs"]
    assert mine[-1]["id"] == job_id and mine[-1]["status"] == "completed"
    alice = Client(f"{url}/", auth=ALICE, analytics_enabled=False, verbose=False)
    assert "second_speech.wav" in str(alice.predict(api_name="/watch")[1])


def test_uploads_stay_inside_the_data_dir_and_are_size_limited(
    server: tuple[str, Path, Path],
) -> None:
    url, data, _ = server
    evil = "../../../../tmp/evil-whisper-ui.wav"
    r = httpx.post(
        f"{url}/api/jobs", auth=ALICE, timeout=60,
        files=[("files", (evil, (DATA / "speech.wav").read_bytes()))],
    )  # fmt: skip
    assert r.status_code == 202
    assert r.json()["jobs"][0]["name"] == "evil-whisper-ui.wav"
    assert not Path("/tmp/evil-whisper-ui.wav").exists()
    staged = list(data.rglob("evil-whisper-ui.wav"))
    assert staged and all((data / "uploads") in p.parents for p in staged)
    big = b"\0" * (2 * 2**20)
    r = httpx.post(f"{url}/api/jobs", auth=ALICE, files=[("files", ("big.wav", big))])
    assert r.status_code == 413


def test_no_credentials_in_the_logs(server: tuple[str, Path, Path]) -> None:
    from gradio_client import Client

    url, _, log = server
    httpx.get(f"{url}/api/jobs", auth=ALICE)
    httpx.get(f"{url}/api/jobs", auth=(BOB[0], "typo-" + BOB[1]))
    httpx.get(f"{url}/api/jobs", headers={"Authorization": f"Bearer {KEY}"})
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        Client(f"{url}/", auth=(ALICE[0], "wrong-" + ALICE[1]), verbose=False)
    Client(f"{url}/", auth=ALICE, analytics_enabled=False, verbose=False)
    # logging's StreamHandler flushes each record, written before the response is sent.
    text = log.read_text()
    for secret in (ALICE[1], BOB[1], KEY, base64.b64encode(":".join(ALICE).encode()).decode()):
        assert secret not in text
