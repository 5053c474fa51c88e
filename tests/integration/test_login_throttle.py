"""Wrong passwords are throttled per user and per client address, on the API's Basic
check and on the page's /login alike (issue 11, item 5), against the real server.

The whole 127/8 block is this machine's loopback, so a client bound to 127.0.0.N is a
different client address to the server without leaving the machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import wait_until
from tests.server import Server, running_server

pytestmark = pytest.mark.integration
USERS = {"carol": "C4rol-pw", "dave": "D4ve-pw", "erin": "Er1n-pw", "frank": "Fr4nk-pw"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logins = [arg for pair in USERS.items() for arg in ("--auth", ":".join(pair))]
    with running_server(tmp_path_factory.mktemp("throttle"), "-v", *logins) as running:
        yield running


def client(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def login(http: httpx.Client, url: str, user: str, password: str) -> httpx.Response:
    """What Gradio's login form sends: multipart username and password to /login."""
    return http.post(f"{url}/login", files={"username": (None, user), "password": (None, password)})


def test_a_burst_of_wrong_basic_passwords_locks_the_user_out(server: Server) -> None:
    with client("127.0.0.2") as http, client("127.0.0.3") as elsewhere:
        codes = [http.get(f"{server.url}/api/jobs", auth=("carol", f"guess{n}")).status_code
                 for n in range(100)]  # fmt: skip
        assert codes[:6] == [401] * 6 and set(codes[6:]) == {429}, codes
        right = http.get(f"{server.url}/api/jobs", auth=("carol", USERS["carol"]))
        assert right.status_code == 429
        assert right.headers["retry-after"] == "1"
        assert right.json()["error"]["code"] == "too_many_attempts"
        # The lock is on the user, wherever the next try comes from...
        carol = ("carol", USERS["carol"])
        assert elsewhere.get(f"{server.url}/api/jobs", auth=carol).status_code == 429
        # ...and the other users of that first address are not locked out by it.
        assert http.get(f"{server.url}/api/jobs", auth=("dave", USERS["dave"])).status_code == 200
        # Once Retry-After has passed, the right password works (and clears the count).
        wait_until(
            lambda: http.get(f"{server.url}/api/jobs", auth=("carol", USERS["carol"])).status_code
            == 200,
            10, "carol getting in after her lock",
        )  # fmt: skip
        assert http.get(f"{server.url}/api/jobs", auth=("carol", "wrong")).status_code == 401


def test_wrong_passwords_on_the_login_page_are_throttled_the_same_way(server: Server) -> None:
    with client("127.0.0.4") as http:
        codes = [login(http, server.url, "erin", f"guess{n}").status_code for n in range(20)]
        assert codes[:6] == [400] * 6 and set(codes[6:]) == {429}, codes
        locked = login(http, server.url, "erin", USERS["erin"])
        assert locked.status_code == 429, locked.text
        assert locked.headers["retry-after"] == "1"
        assert "Try again in 1 s" in locked.json()["detail"]
        assert not any(c.name.startswith("access-token") for c in http.cookies.jar)
        # The page's login and the API count together: erin's Basic calls are locked too.
        assert http.get(f"{server.url}/api/jobs", auth=("erin", USERS["erin"])).status_code == 429
        ok = wait_until(
            lambda: (r := login(http, server.url, "erin", USERS["erin"])).status_code == 200 and r,
            10, "erin logging in after her lock",
        )  # fmt: skip
        assert ok.json() == {"success": True}


def test_one_address_trying_many_users_is_locked_out_by_address(server: Server) -> None:
    with client("127.0.0.5") as http, client("127.0.0.6") as neighbour:
        for n in range(20):  # 20 wrong ones from this address are free, one per made-up user
            assert http.get(f"{server.url}/api/health", auth=(f"u{n}", "x")).status_code == 401
        assert http.get(f"{server.url}/api/health", auth=("u20", "x")).status_code == 401
        frank = ("frank", USERS["frank"])
        assert http.get(f"{server.url}/api/health", auth=frank).status_code == 429
        assert neighbour.get(f"{server.url}/api/health", auth=frank).status_code == 200


def test_requests_without_credentials_are_not_counted(server: Server) -> None:
    with client("127.0.0.7") as http:
        for _ in range(30):
            assert http.get(f"{server.url}/api/health").status_code == 401
        assert http.get(f"{server.url}/api/health", auth=("dave", USERS["dave"])).status_code == 200


def test_the_log_names_who_was_locked_and_never_a_password(server: Server) -> None:
    log = wait_until(
        lambda: "locked for" in (text := server.output()) and text, 10, "a lock in the log"
    )
    assert "user 'carol' from 127.0.0.2" in log
    assert "guess" not in log
    assert not any(password in log for password in USERS.values())
