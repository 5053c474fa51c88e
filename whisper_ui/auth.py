"""Credentials shared by the UI login and the API: users with passwords, and API keys.

Comparison is constant-time, and nothing here logs a secret. When no credentials are
configured every request is anonymous (the default on 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

ANONYMOUS = "anonymous"


class AuthConfigError(ValueError):
    """A malformed --auth value or auth file line (the message never echoes a password)."""


def parse_user_pass(spec: str, *, where: str = "--auth") -> tuple[str, str]:
    user, sep, password = spec.partition(":")
    if not sep or not user.strip() or not password:
        raise AuthConfigError(f"{where}: expected USER:PASSWORD, got an entry without both parts")
    return user.strip(), password


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    """USER:PASSWORD per line; blank lines and lines starting with # are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AuthConfigError(f"auth file {path}: {exc.strerror or exc}") from exc
    pairs = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            pairs.append(parse_user_pass(text, where=f"{path}:{number}"))
    return pairs


@dataclass(frozen=True)
class Credentials:
    users: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    api_keys: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls,
        user_specs: Iterable[str] = (),
        auth_file: Path | None = None,
        api_keys: Mapping[str, str] | None = None,
    ) -> Credentials:
        pairs = [parse_user_pass(s) for s in user_specs]
        if auth_file is not None:
            pairs.extend(read_auth_file(auth_file))
        return cls(MappingProxyType(dict(pairs)), MappingProxyType(dict(api_keys or {})))

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.api_keys)

    def check_password(self, user: str, password: str) -> bool:
        expected = self.users.get(user)
        # Compare against something even for unknown users: no timing hint either way.
        ok = hmac.compare_digest(
            (expected or "\0invalid").encode("utf-8"), password.encode("utf-8")
        )
        return ok and expected is not None

    def owner_for_key(self, key: str) -> str | None:
        for known, owner in self.api_keys.items():
            if hmac.compare_digest(known.encode("utf-8"), key.encode("utf-8")):
                return owner
        return None

    def authenticate(self, authorization: str | None) -> str | None:
        """Owner name for an Authorization header (Basic or Bearer), or None if invalid."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return self.owner_for_key(value)
        pair = decode_basic(authorization)
        if pair is not None and self.check_password(*pair):
            return pair[0]
        return None


def decode_basic(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from a Basic Authorization header, UTF-8 as RFC 7617 says; None
    for any other header. The user is only claimed, not checked."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
