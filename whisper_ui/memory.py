"""Process-wide memory hygiene for the engine: fewer glibc malloc arenas.

glibc gives every thread that calls malloc its own arena (up to 8 per core) and never
hands memory freed in one arena to another thread. The engine decodes audio and runs
faster-whisper in pool threads, so each job's freed buffers stayed in whichever arena
its thread had: measured with bench/throughput.py (tiny.en, 14 files), the engine's
peak RSS was 441 MB at one job at a time against 335 MB for plain faster-whisper on the
same files in one thread, and 347 MB with two arenas, at the same speed. The planner
plans weights and workers, not arena bloat, so the engine keeps arenas few.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the rest of the process; True when it took effect.

    Does nothing (False) off glibc, or when MALLOC_ARENA_MAX is set: the person who set
    it chose, and glibc has already applied it. Safe to call more than once.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(max(1, arenas))))
    except (OSError, AttributeError) as exc:
        log.debug("could not limit malloc arenas: %s", exc)
        return False
    return ok
