"""Wrong passwords slow down, then lock out, per user and per client address.

Without this, a script on the LAN tries passwords as fast as the server answers. Each
user and each client address has its own count of recent failures: the first few cost
nothing (people mistype), every failure after that locks the key for twice as long as
the one before, up to a ceiling. While a key is locked every attempt is refused
unchecked (a 429 with Retry-After), so a correct guess during a lock tells nothing,
and refused attempts do not lengthen the lock. Counting per user stops guessing one
account from many addresses; counting per address stops one client trying many users.

A success clears the user's count, not the address's: a valid account must not let
its holder reset the count while guessing another user's password from the same
machine. A key with no failure for `forget_after_s` starts over, and the table is
bounded, so made-up user names cannot grow memory. Pure logic with an injected clock;
callers (the API's Basic check and the page's login) do the I/O and logging.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many wrong passwords are free, and how long the locks after them last."""

    free_per_user: int = 5
    free_per_address: int = 20
    first_lock_s: float = 1.0
    max_lock_s: float = 900.0
    forget_after_s: float = 3600.0
    max_keys: int = 10_000

    def lock_s(self, failures: int, free: int) -> float:
        """The lock after the `failures`-th recent failure: 0 while free, then doubling."""
        over = failures - free
        if over <= 0:
            return 0.0
        return min(self.max_lock_s, self.first_lock_s * 2.0 ** min(over - 1, 60))


@dataclass
class _Record:
    failures: int
    last_failure: float
    locked_until: float


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up, as the Retry-After header wants them."""
    return str(max(1, math.ceil(wait_s)))


class LoginThrottle:
    """Failure counts for ("user", name) and ("address", ip) keys; thread-safe."""

    def __init__(
        self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, user: str | None, address: str | None) -> list[tuple[tuple[str, str], int]]:
        keys = []
        if user:
            keys.append((("user", user), self.policy.free_per_user))
        if address:
            keys.append((("address", address), self.policy.free_per_address))
        return keys

    def _live(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure > self.policy.forget_after_s:
            del self._records[key]
            return None
        return record

    def wait_s(self, user: str | None, address: str | None) -> float:
        """Seconds until this user may try from this address again; 0 means try now."""
        now = self._clock()
        with self._lock:
            waits = [
                record.locked_until - now
                for key, _ in self._keys(user, address)
                if (record := self._live(key, now)) is not None
            ]
        return max([0.0, *waits])

    def failed(self, user: str | None, address: str | None) -> float:
        """Count a wrong password; the lock (seconds) that now applies, 0 if none."""
        now = self._clock()
        longest = 0.0
        with self._lock:
            for key, free in self._keys(user, address):
                record = self._live(key, now) or _Record(0, now, now)
                record.failures += 1
                record.last_failure = now
                lock = self.policy.lock_s(record.failures, free)
                record.locked_until = max(record.locked_until, now + lock)
                self._records[key] = record
                self._records.move_to_end(key)
                longest = max(longest, lock)
            while len(self._records) > self.policy.max_keys:
                self._records.popitem(last=False)
        if longest:
            log.warning(
                "login: wrong password for user %r from %s; locked for %s s",
                user,
                address,
                retry_after_header(longest),
            )
        else:
            log.info("login: wrong password for user %r from %s", user, address)
        return longest

    def succeeded(self, user: str | None) -> None:
        """A right password: the user's count starts over (the address's does not)."""
        if not user:
            return
        with self._lock:
            self._records.pop(("user", user), None)
