"""Joining a running Ray cluster from the whisper-ui server, safely and with clear errors.

Ray is started by the person with Ray's own `ray start --head` / `ray start --address`
(README "Several machines"); the server only connects. Before Ray is asked, the address
is checked with a plain TCP connect, because `ray.init` on a dead address retries for a
long time and then says nothing about which address it was.
"""

from __future__ import annotations

import os
import socket
from typing import Any

NAMESPACE = "whisper-ui"  # our actors live apart from anything else on the cluster


class ClusterError(RuntimeError):
    """The cluster cannot be used; the message names the address and the reason."""


def split_address(address: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); ClusterError for anything else."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(
            f"cluster address {address!r} is not HOST:PORT (the address `ray start --head` "
            "printed, e.g. 192.168.1.10:6379)"
        )
    return host, int(port)


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Raise ClusterError naming `address` unless something accepts connections there."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {reason} (is `ray start --head` "
            "running there, and is the port open to this machine?)"
        ) from exc


def auth_environment() -> None:
    """Token authentication on unless the person turned it off explicitly (Ray >= 2.52
    reads RAY_AUTH_MODE, and the token from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    `ray get-auth-token --generate`'s default file)."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")


def connect(address: str) -> dict[str, Any]:
    """Connect this process to the cluster at `address`.

    Blocking (call it in a thread). Idempotent: a second call while connected is a no-op.
    """
    check_reachable(address)
    auth_environment()
    import ray

    if ray.is_initialized():
        return {}
    try:
        ray.init(
            address=address,
            namespace=NAMESPACE,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise ClusterError(
            f"cannot join the Ray cluster at {address}: {exc} (every node needs the same "
            "Python, Ray and whisper-ui versions, and the same RAY_AUTH_TOKEN)"
        ) from exc
    return {"address": address}


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
