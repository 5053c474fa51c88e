"""cuBLAS 12 from the pip package is found by a later dlopen of its bare name.

No GPU and no cuBLAS here: two tiny shared libraries named and sonamed like cuBLAS are
compiled into an `nvidia/cublas/lib` folder, as nvidia-cublas-cu12 lays it out. Before
the preload a dlopen of "libcublas.so.12" (what CTranslate2 does) fails; after it, it
finds the loaded library and calls into it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_ui.engine import cuda_libs

SOURCE = "int cublas_stand_in(void) { return %d; }\n"


def _compile(folder: Path, name: str, value: int) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler is needed to build the stand-in libraries (gcc)")
    src = folder / f"{name}.c"
    src.write_text(SOURCE % value)
    cmd = [cc, "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(folder / name), str(src)]
    subprocess.run(cmd, check=True)


# Run in a child process: the stand-in stays loaded in whatever process loads it.
CHILD = """
import ctypes, json, sys
sys.path[:0] = ["/nonexistent", sys.argv[1]]
from whisper_ui.engine import cuda_libs
try:
    ctypes.CDLL("libcublas.so.12")
    before = "found"
except OSError:
    before = "not found"
folder = cuda_libs.preload_cublas()
value = ctypes.CDLL("libcublas.so.12").cublas_stand_in()
print(json.dumps({"before": before, "folder": folder, "value": value}))
"""


def test_the_pip_cublas_is_loaded_so_a_bare_dlopen_finds_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    lib = site / "nvidia" / "cublas" / "lib"
    lib.mkdir(parents=True)
    _compile(lib, "libcublasLt.so.12", 12)
    _compile(lib, "libcublas.so.12", 42)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(site)],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    # CTranslate2's dlopen of the bare name fails before, finds the loaded library after.
    assert result == {"before": "not found", "folder": str(lib), "value": 42}


def test_nothing_happens_without_the_package(tmp_path: Path) -> None:
    assert cuda_libs.find_cublas([str(tmp_path)]) is None
    half = tmp_path / "nvidia" / "cublas" / "lib"
    half.mkdir(parents=True)
    (half / "libcublas.so.12").write_bytes(b"")
    assert cuda_libs.find_cublas([str(tmp_path)]) is None, "libcublasLt.so.12 missing"
