"""Fuzzing audio intake: whatever the bytes, `probe` and `decode` answer or raise AudioError.

Inputs are random bytes (bare, or behind a real container's magic) and mutations of
the committed fixtures: byte flips, truncations, insertions, deletions and splices of
one file's header onto another's body. Every call runs in a separate worker process
with a time limit, so a hang fails the test (and the worker is killed) instead of
stalling the suite. Hypothesis runs a fixed, derandomized set of examples, so CI sees
the same inputs on every run.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import multiprocessing.pool
import os
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import DATA
from whisper_ui.audio import AudioError, MediaInfo, decode, probe

FIXTURES = (
    "speech.mp3",
    "speech.m4a",
    "speech.ogg",
    "speech.flac",
    "speech.webm",
    "video.mp4",
    "speech.wav",
)
BLOBS = {name: (DATA / name).read_bytes() for name in FIXTURES}
MAGICS = (
    b"RIFF\xff\xff\xff\x7fWAVEfmt ",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"\xff\xf3",
    b"OggS\x00\x02",
    b"fLaC",
    b"\x1a\x45\xdf\xa3",
    b"\x00\x00\x00\x20ftypisom",
    b"FORM\x00\x00\x10\x00AIFF",
    b"#!AMR\n",
    b"caff\x00\x01\x00\x00",
)
CALL_TIMEOUT_S = 10.0
# probe() refuses longer files before the engine decodes them; decode time and memory
# are proportional to the duration, so only what probe would let through is decoded.
MAX_DURATION_S = 600.0

PROFILE = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_names = itertools.count()


@pytest.fixture(scope="module")
def worker() -> Iterator[list[multiprocessing.pool.Pool]]:
    """A one-process pool (in a list, so a test can replace it after killing a hang)."""
    ctx = multiprocessing.get_context("spawn")
    holder = [ctx.Pool(1)]
    try:
        yield holder
    finally:
        holder[0].terminate()
        holder[0].join()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def call(
    holder: list[multiprocessing.pool.Pool],
    fn: Callable[..., Any],
    *args: Any,
    timeout: float = CALL_TIMEOUT_S,
    **kwargs: Any,
) -> Any:
    """fn(*args, **kwargs) in the worker process; fails the test after `timeout` s."""
    result = holder[0].apply_async(fn, args, kwargs)
    try:
        return result.get(timeout)
    except multiprocessing.TimeoutError:
        holder[0].terminate()  # kill the hung call; the next one gets a fresh process
        holder[0].join()
        holder[0] = multiprocessing.get_context("spawn").Pool(1)
        pytest.fail(f"{fn.__name__}{args} did not return within {timeout} s")


def check(
    holder: list[multiprocessing.pool.Pool],
    folder: Path,
    data: bytes,
    suffix: str,
    *,
    also_decode: bool,
) -> None:
    """probe (and maybe decode) `data` as a file; only a result or AudioError may come out."""
    name = f"fuzz{next(_names)}{suffix}"
    path = folder / name
    path.write_bytes(data)
    try:
        info = None
        try:
            info = call(holder, probe, str(path), max_duration_s=MAX_DURATION_S)
        except AudioError as err:
            assert str(err).startswith(f"{name}: "), str(err)
            assert err.reason, str(err)
            if "; the limit is " in err.reason:
                return  # too long to decode here, as in the engine
        else:
            assert isinstance(info, MediaInfo)
            assert info.name == name
            assert 0 < info.duration <= MAX_DURATION_S
            assert info.size_bytes == len(data)
        if info is None and not also_decode:
            return
        try:
            samples = call(holder, decode, str(path))
        except AudioError as err:
            assert str(err).startswith(f"{name}: "), str(err)
        else:
            assert isinstance(samples, np.ndarray)
            assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) > 0
            assert np.isfinite(samples).all()
            assert float(np.abs(samples).max()) <= 1.0
    finally:
        os.unlink(path)


# ---- mutations -------------------------------------------------------------------


def _wav_rate(rate: int) -> bytes:
    """speech.wav with another sample rate in its header (byte rate left alone)."""
    data = bytearray(BLOBS["speech.wav"])
    data[24:28] = struct.pack("<I", rate)
    return bytes(data)


def _zip_of(fname: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo(fname, date_time=(2024, 1, 1, 0, 0, 0)), BLOBS[fname])
    return buf.getvalue()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A fixture with 1-4 random edits; returns (suffix to name it with, bytes)."""
    fname = draw(st.sampled_from(FIXTURES))
    data = bytearray(BLOBS[fname])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(["flip", "flip_header", "truncate", "insert", "delete", "splice"])
        )
        # Headers are where parsers go wrong: aim half of the positions at the first KB.
        head = draw(st.booleans())
        limit = min(len(data), 1024) if head else len(data)
        pos = draw(st.integers(0, max(0, limit - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "flip_header" and data:
            for i in range(draw(st.integers(1, 8))):
                at = min(len(data) - 1, draw(st.integers(0, 64)) + i)
                data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 256))]
        elif op == "splice":  # another file's head on this file's body, or the reverse
            other = BLOBS[draw(st.sampled_from(FIXTURES))]
            cut = draw(st.integers(1, min(len(other), 4096)))
            if draw(st.booleans()):
                data = bytearray(other[:cut]) + data[cut:]
            else:
                data = data[:cut] + bytearray(other[cut:])
    suffix = draw(st.sampled_from([os.path.splitext(fname)[1], ".mp3", ".wav", ".bin"]))
    return suffix, bytes(data)


@PROFILE
@given(sample=mutated(), also_decode=st.booleans())
# Edge cases kept in every run. No crash or hang turned up (8 000 random examples
# besides these); the zip below used to be called damaged audio (see _undecodable).
@example(sample=(".wav", BLOBS["speech.wav"][:44]), also_decode=True)  # header only
@example(sample=(".wav", _wav_rate(16)), also_decode=True)  # header: 9 833 s at 16 Hz
@example(sample=(".mp4", BLOBS["video.mp4"][:40] + BLOBS["speech.m4a"][40:]), also_decode=True)
@example(sample=(".mp3", _zip_of("speech.wav")), also_decode=True)  # a zip renamed .mp3
def test_mutated_fixtures(
    worker: list[multiprocessing.pool.Pool],
    scratch: Path,
    sample: tuple[str, bytes],
    also_decode: bool,
) -> None:
    suffix, data = sample
    check(worker, scratch, data, suffix, also_decode=also_decode)


# ---- random bytes ----------------------------------------------------------------


@PROFILE
@given(
    prefix=st.sampled_from((b"", *MAGICS)),
    body=st.binary(min_size=0, max_size=4096),
    suffix=st.sampled_from([".wav", ".mp3", ".m4a", ".ogg", ".webm", ".zip", ""]),
)
@example(prefix=b"", body=b"", suffix=".wav")
@example(prefix=b"PK\x03\x04", body=bytes(range(256)) * 4, suffix=".mp3")
def test_random_bytes(
    worker: list[multiprocessing.pool.Pool], scratch: Path, prefix: bytes, body: bytes, suffix: str
) -> None:
    check(worker, scratch, prefix + body, suffix, also_decode=True)


def test_the_worker_times_out_a_hang(worker: list[multiprocessing.pool.Pool]) -> None:
    """The time limit is real: a call that does not return fails the test."""
    import time

    with pytest.raises(pytest.fail.Exception, match="did not return"):
        call(worker, time.sleep, 30, timeout=1)
    assert call(worker, sum, [1, 2]) == 3  # a fresh worker took over
