"""cuBLAS for CUDA 12 from the index, found without LD_LIBRARY_PATH.

PyPI's CTranslate2 (4.x) is built for CUDA 12 and opens `libcublas.so.12` by name
when it first computes on a GPU. A machine with only CUDA 13's libraries (or none) has
no such file on the loader's path, and every job on the GPU would fail. The pip package
`nvidia-cublas-cu12` ships the library under `site-packages/nvidia/cublas/lib`, where
the dynamic loader does not look. Loading it once by full path, globally, before
CTranslate2 asks makes CTranslate2's `dlopen("libcublas.so.12")` find the library that is
already loaded (the loader matches by its soname), the way torch loads its own CUDA
wheels. Nothing happens when the package is not installed.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Lt first: libcublas.so.12 needs it, and would not find it on its own either.
CUBLAS_12 = ("libcublasLt.so.12", "libcublas.so.12")


def find_cublas(paths: Sequence[str]) -> Path | None:
    """The first `nvidia/cublas/lib` folder under `paths` (sys.path) holding both libraries."""
    for entry in paths:
        folder = Path(entry or ".") / "nvidia" / "cublas" / "lib"
        if all((folder / name).is_file() for name in CUBLAS_12):
            return folder
    return None


@functools.cache
def preload_cublas() -> str | None:
    """Load cuBLAS 12 from nvidia-cublas-cu12 if it is installed; the folder, or None.
    Once per process: a second load would change nothing."""
    folder = find_cublas(sys.path)
    if folder is None:
        return None
    try:
        for name in CUBLAS_12:
            ctypes.CDLL(str(folder / name), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:  # a damaged or foreign-architecture install: say so, go on
        log.warning("could not load cuBLAS from %s: %s", folder, exc)
        return None
    log.info("loaded cuBLAS for CUDA 12 from %s", folder)
    return str(folder)
