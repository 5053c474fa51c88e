"""The engine's malloc-arena cap: applied on glibc, never over a person's own setting."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from whisper_ui.memory import limit_malloc_arenas

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt(M_ARENA_MAX) is glibc's")
def test_the_cap_takes_effect_on_glibc() -> None:
    # In a child: the cap is process-wide and this test process should stay as it is.
    code = "from whisper_ui.memory import limit_malloc_arenas as f; print(f(2), f(2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]  # and safe to call again


def test_a_malloc_arena_max_set_by_the_person_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False
