"""The wrong-password throttle on its own, with an injected clock."""

from __future__ import annotations

import logging

import pytest

from whisper_ui.throttle import LoginThrottle, ThrottlePolicy, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(**policy: float) -> tuple[LoginThrottle, Clock]:
    clock = Clock()
    return LoginThrottle(ThrottlePolicy(**policy), clock=clock), clock  # type: ignore[arg-type]


def test_the_first_failures_are_free_then_locks_double_up_to_the_ceiling() -> None:
    t, _ = throttle(free_per_user=3, free_per_address=100, first_lock_s=1, max_lock_s=5)
    locks = [t.failed("alice", "10.0.0.1") for _ in range(7)]
    assert locks == [0, 0, 0, 1, 2, 4, 5]


def test_a_locked_user_waits_and_then_may_try_again() -> None:
    t, clock = throttle(free_per_user=2, first_lock_s=10)
    t.failed("alice", "10.0.0.1")
    assert t.wait_s("alice", "10.0.0.1") == 0
    t.failed("alice", "10.0.0.1")
    t.failed("alice", "10.0.0.1")
    assert t.wait_s("alice", "10.0.0.1") == pytest.approx(10)
    # Another address is locked out for alice too (guessing one account from many places).
    assert t.wait_s("alice", "10.0.0.2") == pytest.approx(10)
    # ...but bob from there is not.
    assert t.wait_s("bob", "10.0.0.2") == 0
    clock.now += 4
    assert t.wait_s("alice", "10.0.0.1") == pytest.approx(6)
    clock.now += 6
    assert t.wait_s("alice", "10.0.0.1") == 0


def test_one_address_trying_many_users_is_locked_by_address() -> None:
    t, _ = throttle(free_per_user=100, free_per_address=4, first_lock_s=3)
    for n in range(5):
        t.failed(f"user{n}", "10.0.0.9")
    assert t.wait_s("someone-else", "10.0.0.9") == pytest.approx(3)
    assert t.wait_s("someone-else", "10.0.0.8") == 0


def test_success_clears_the_user_but_not_the_address() -> None:
    t, _ = throttle(free_per_user=2, free_per_address=3, first_lock_s=7)
    t.failed("alice", "10.0.0.1")
    t.failed("alice", "10.0.0.1")
    t.succeeded("alice")
    t.failed("alice", "10.0.0.1")  # the user's count starts over: 1 of 2, free
    assert t.wait_s("alice", None) == 0
    t.failed("bob", "10.0.0.1")  # the address's count did not: 4 of 3
    assert t.wait_s(None, "10.0.0.1") == pytest.approx(7)


def test_failures_are_forgotten_after_a_quiet_while() -> None:
    t, clock = throttle(free_per_user=1, first_lock_s=1, forget_after_s=60)
    t.failed("alice", None)
    t.failed("alice", None)
    t.failed("alice", None)
    clock.now += 61
    assert t.failed("alice", None) == 0  # first failure again


def test_the_table_is_bounded() -> None:
    t, _ = throttle(max_keys=50)
    for n in range(1000):
        t.failed(f"made-up-{n}", f"10.0.{n // 250}.{n % 250}")
    assert len(t._records) <= 50


def test_the_log_names_the_user_and_address_never_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, _ = throttle(free_per_user=1)
    with caplog.at_level(logging.INFO, logger="whisper_ui.throttle"):
        t.failed("alice", "10.0.0.1")
        t.failed("alice", "10.0.0.1")
    text = caplog.text
    assert "'alice'" in text and "10.0.0.1" in text and "locked for 1 s" in text


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.01) == "2"
