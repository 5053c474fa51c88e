"""A CPU plan measured on this machine: time real chunks three ways and keep the winner.

The planner's rule (one worker per core, one thread each; batching off on CPU) was
measured on one host. On another the gap between the ways of using the cores differs
(README "## Throughput"), so `whisper-ui devices --calibrate`, and `serve` once in the
background, time a few 30 s chunks of real speech as

  1 worker x all threads, batch 1     plain faster-whisper, one file at a time
  N workers x 1 thread,   batch 1     one job per core
  N workers x 1 thread,   batch B     cross-job batching (engine/batcher.py)

and the pool plans the cheapest per chunk (`choose`, pure). The result is cached as JSON
in the data dir, keyed by CPU model, ISA, cores, model and compute type; without one the
rule plans. Three parts, apart so each can be tested alone: the timing core (also used
by bench/batch_scaling.py), the choice, and the cache.

calibration.ogg is the first 28 s of tests/data/long_speech.mp3 (espeak-ng paragraphs):
`ffmpeg -i long_speech.mp3 -t 28 -c:a libopus -b:a 24k -ac 1 -ar 16000 calibration.ogg`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

CALIBRATION_AUDIO = Path(__file__).with_name("calibration.ogg")
CACHE_FILE = "calibration.json"
_CACHE_VERSION = 1
# Batching costs first-segment latency (a chunk waits for its batch), so it must be
# this much cheaper per chunk than the best unbatched way to be chosen.
BATCH_MARGIN = 0.10
# Fewer workers need less memory and give one job more cores: they win within this.
FEWER_WORKERS_MARGIN = 0.03


class CalibrationError(RuntimeError):
    """A calibration that could not finish; the rule keeps planning."""


class CalibrationStopped(CalibrationError):
    """Stopped on purpose (a job arrived): try again when the machine is idle."""


# ---- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    workers: int  # concurrent calls (CTranslate2 workers)
    threads: int  # intra-op threads per worker
    batch: int  # chunks per call

    @property
    def label(self) -> str:
        threads = "thread" if self.threads == 1 else "threads"
        worker = "worker" if self.workers == 1 else "workers"
        return f"{self.workers} {worker} x {self.threads} {threads}, batch {self.batch}"


@dataclass(frozen=True)
class Measurement:
    mode: Mode
    seconds_per_chunk: float  # wall time / chunks decoded, every worker busy


@dataclass(frozen=True)
class CalibrationKey:
    """What a calibration holds for: another CPU, model or compute type is measured anew."""

    cpu: str
    isa: str
    cores: int
    model: str
    compute_type: str

    @property
    def text(self) -> str:
        return f"{self.cpu} | {self.isa} | {self.cores} cores | {self.model} | {self.compute_type}"


@dataclass(frozen=True)
class Calibration:
    key: CalibrationKey
    measurements: tuple[Measurement, ...]
    chunks: int  # chunks decoded per mode and round
    beam_size: int
    seconds: float  # the calibration's own wall time
    measured_at: str  # ISO time, for `devices`
    # 1-minute load average before it ran: other processes on the cores skew the modes
    # unequally (measured here: 2 workers x 1 thread 1.6x faster idle, 0.9x at load 3).
    load_before: float = 0.0


@dataclass(frozen=True)
class Choice:
    """The plan a calibration gives: `jobs` admitted at once, each worker `threads`
    threads; batched jobs get one batch's worth per batch thread, so short clips fill it."""

    measurement: Measurement
    jobs: int
    threads: int
    batch: bool
    reason: str


# ---- the choice (pure) ------------------------------------------------------------------


def modes(cores: int, batch: int) -> tuple[Mode, ...]:
    """The ways to time on `cores` cores (a batch below 2 leaves batching out)."""
    n = max(1, cores)
    found = [Mode(1, n, 1)]
    if n > 1:
        found.append(Mode(n, 1, 1))
    if batch >= 2:
        found.append(Mode(n, 1, batch))
    return tuple(found)


def choose(measurements: Sequence[Measurement], *, batch: str = "auto") -> Choice | None:
    """The cheapest way per chunk. `batch` is Settings.batch: "off" and "on" keep the
    user's choice and pick the best of that kind; "auto" lets batching win only when it
    is BATCH_MARGIN cheaper. None when nothing measured fits."""
    plain = [m for m in measurements if m.mode.batch == 1 and m.seconds_per_chunk > 0]
    batched = [m for m in measurements if m.mode.batch > 1 and m.seconds_per_chunk > 0]
    if batch == "on":
        plain = []
    elif batch == "off":
        batched = []
    best: Measurement | None = None
    reason = ""
    if plain:
        best = min(plain, key=lambda m: (m.seconds_per_chunk, m.mode.workers))
        reason = "the cheapest per chunk"
        for m in sorted(plain, key=lambda m: m.mode.workers):
            limit = best.seconds_per_chunk * (1 + FEWER_WORKERS_MARGIN)
            if m.mode.workers < best.mode.workers and m.seconds_per_chunk <= limit:
                best = m
                reason = f"within {FEWER_WORKERS_MARGIN:.0%} of the cheapest, fewer workers"
                break
    if batched:
        top = min(batched, key=lambda m: (m.seconds_per_chunk, m.mode.workers))
        if best is None:
            best, reason = top, "batch: on"
        elif top.seconds_per_chunk * (1 + BATCH_MARGIN) <= best.seconds_per_chunk:
            best, reason = top, f"batched is over {BATCH_MARGIN:.0%} cheaper per chunk"
        else:
            reason += f"; batching not {BATCH_MARGIN:.0%} cheaper"
    if best is None:
        return None
    mode = best.mode
    return Choice(
        measurement=best,
        jobs=mode.workers * mode.batch,
        threads=mode.threads,
        batch=mode.batch > 1,
        reason=reason,
    )


# ---- the timing core (also bench/batch_scaling.py) ----------------------------------------


def cpu_isa() -> str:
    """The widest vector ISA the CPU reports (CTranslate2 picks its kernels by it: AMX and
    AVX-512 on recent Xeons, AVX2 on Zen 3), and CT2_FORCE_CPU_ISA when set."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    widest = next(
        (
            name
            for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))
            if flag in flags
        ),
        "SSE",
    )
    isa = f"{widest}{' + AMX' if 'amx_int8' in flags else ''}"
    forced = os.environ.get("CT2_FORCE_CPU_ISA")
    return f"{isa}{f', CT2_FORCE_CPU_ISA={forced}' if forced else ''}"


def cpu_quiet(cores: int) -> bool:
    """Whether other work leaves the cores mostly free (1-minute load average below half
    of them): what the background calibration waits for."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return load < 0.5 * max(1, cores)


def load_model(
    path: str, *, workers: int, threads: int, compute_type: str = "int8", device: str = "cpu"
) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(
        path,
        device=device,
        compute_type=compute_type,
        cpu_threads=threads,
        num_workers=workers,
        local_files_only=True,
    )


def speech_chunks(model: Any, samples: npt.NDArray[np.float32], count: int) -> list[Any]:
    """`count` chunks' features: the speech cut by faster-whisper's VAD into <= 30 s
    chunks, each padded to a 30 s window as decoding does, repeated as needed."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    speech = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=30))
    pieces, _ = collect_chunks(samples, speech, max_duration=30)
    if not pieces:
        raise CalibrationError("no speech in the calibration audio")
    feats = [np.asarray(pad_or_trim(model.feature_extractor(p)[..., :-1])) for p in pieces]
    return [feats[i % len(feats)] for i in range(count)]


def seconds_per_chunk(
    model: Any,
    feats: Sequence[Any],
    *,
    workers: int,
    batch: int,
    beam: int = 5,
    should_stop: Callable[[], bool] | None = None,
    warm_up: bool = True,
) -> float:
    """Wall seconds per chunk when `workers` concurrent calls of `batch` chunks each
    encode and generate `feats` (after one untimed call to warm up, unless the model has
    decoded already). The model's work only: VAD, audio decoding and features are the
    same in every mode."""
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.tokenizer import Tokenizer

    from whisper_ui.domain import TranscribeOptions
    from whisper_ui.engine.batcher import _fw_options

    multilingual = bool(model.model.is_multilingual)
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language="en")
    options = _fw_options(model, TranscribeOptions(beam_size=beam), tokenizer)
    pipeline = BatchedInferencePipeline(model)
    batches = [np.stack(feats[i : i + batch]) for i in range(0, len(feats), batch)]

    def run(features: Any) -> None:
        if should_stop is not None and should_stop():
            raise CalibrationStopped("stopped")
        pipeline.generate_segment_batched(features, tokenizer, options)

    if warm_up:
        run(batches[0][:1])
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(run, batches))
    return (time.monotonic() - start) / max(1, len(feats))


def calibrate(
    model_path: str,
    key: CalibrationKey,
    *,
    samples: npt.NDArray[np.float32] | None = None,
    beam: int = 5,
    batch: int = 2,
    budget_s: float = 24.0,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[Measurement], None] | None = None,
) -> Calibration:
    """Time every mode of `modes(key.cores, batch)` on the same chunks: cores x batch of
    them, so a batched round fills every worker, in two rounds (each mode's best is
    kept). One chunk timed first drops to one round, then shrinks the batch (to 1: no
    batched mode), where the modes would not fit in half of `budget_s`. Past twice the
    budget it stops with CalibrationError; `should_stop` turning true raises
    CalibrationStopped."""
    start = time.monotonic()
    deadline = start + 2 * budget_s
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0  # for `devices`

    def stop() -> bool:
        if should_stop is not None and should_stop():
            return True
        if time.monotonic() > deadline:
            raise CalibrationError(f"over its time budget ({2 * budget_s:.0f} s)")
        return False

    if samples is None:
        from whisper_ui import audio

        samples = audio.decode(str(CALIBRATION_AUDIO))
    cores = max(1, key.cores)
    first = load_model(model_path, workers=1, threads=cores, compute_type=key.compute_type)
    try:
        feats = speech_chunks(first, samples, cores * max(1, batch))
        # One chunk with every thread sizes the run: every mode decodes the chunks once.
        one = seconds_per_chunk(first, feats[:1], workers=1, batch=1, beam=beam, should_stop=stop)
        # The modes decode cores x batch chunks each: keep the batch where they fit in
        # half the budget (the rest is loading and warming up), 1 (no batched mode) if not.
        # Two rounds, the modes interleaved, each mode's best kept: other work on the
        # cores hits one round of one mode, not its best (one round where two don't fit).
        for rounds in (2, 1):
            fits = int(budget_s / 2 / max(one * cores * rounds, 1e-6))
            if fits >= 2:
                break
        batch = max(1, min(batch, fits))
        feats = feats[: cores * batch]
        best: dict[Mode, float] = {}
        for round_ in range(rounds):
            for mode in modes(cores, batch):
                reuse = mode == Mode(1, cores, 1)  # loaded and warm: it decoded the sizing chunk
                model = first
                if not reuse:
                    model = load_model(
                        model_path,
                        workers=mode.workers,
                        threads=mode.threads,
                        compute_type=key.compute_type,
                    )
                try:
                    cost = seconds_per_chunk(
                        model,
                        feats,
                        workers=mode.workers,
                        batch=mode.batch,
                        beam=beam,
                        should_stop=stop,
                        warm_up=not reuse,
                    )
                finally:
                    if not reuse:
                        _unload(model)
                best[mode] = min(cost, best.get(mode, cost))
                if progress is not None and round_ == rounds - 1:
                    progress(Measurement(mode, best[mode]))
        measurements = [Measurement(mode, cost) for mode, cost in best.items()]
    finally:
        _unload(first)
    return Calibration(
        key=key,
        measurements=tuple(measurements),
        chunks=len(feats),
        beam_size=beam,
        seconds=time.monotonic() - start,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        load_before=load_before,
    )


def _unload(model: Any) -> None:
    with contextlib.suppress(Exception):
        model.model.unload_model()


# ---- the cache ------------------------------------------------------------------------


def _to_json(cal: Calibration) -> dict[str, Any]:
    return dataclasses.asdict(cal)


def _from_json(data: Any) -> Calibration:
    """Raises KeyError, TypeError or ValueError for anything that is not a calibration."""
    if not isinstance(data, dict):
        raise TypeError("an entry is not an object")
    key = CalibrationKey(**data["key"])
    measurements = tuple(
        Measurement(Mode(**m["mode"]), float(m["seconds_per_chunk"])) for m in data["measurements"]
    )
    for m in measurements:
        if min(m.mode.workers, m.mode.threads, m.mode.batch) < 1 or not m.seconds_per_chunk > 0:
            raise ValueError(f"a measurement out of range: {m}")
    return Calibration(
        key=key,
        measurements=measurements,
        chunks=int(data["chunks"]),
        beam_size=int(data["beam_size"]),
        seconds=float(data["seconds"]),
        measured_at=str(data["measured_at"]),
        load_before=float(data.get("load_before", 0.0)),
    )


def _entries(path: Path) -> dict[str, Any]:
    """The file's entries; {} when there is none; ValueError when it is corrupt."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        raise ValueError(f"not a version {_CACHE_VERSION} calibration file")
    entries = data.get("entries")
    if not isinstance(entries, dict):
        raise ValueError("no entries")
    return entries


def load_cached(data_dir: Path, key: CalibrationKey) -> Calibration | None:
    """The cached calibration for `key`, or None (and a log line saying why: no file,
    corrupt, or measured for another CPU, model or compute type)."""
    path = data_dir / CACHE_FILE
    try:
        entries = _entries(path)
    except ValueError as exc:
        log.warning("ignoring %s, it is corrupt (%s): the rule plans the pool", path, exc)
        return None
    entry = entries.get(key.text)
    if entry is None:
        if entries:
            log.info(
                "%s has no calibration for %s (only for: %s): the rule plans the pool",
                path,
                key.text,
                "; ".join(entries),
            )
        return None
    try:
        cal = _from_json(entry)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring %s's entry for %s (%s): the rule plans the pool", path, key.text, exc)
        return None
    if cal.key != key:
        log.warning("ignoring %s's entry for %s: it is for %s", path, key.text, cal.key.text)
        return None
    return cal


def save(data_dir: Path, cal: Calibration) -> Path:
    """Write `cal` into the cache, atomically (a temp file renamed over it), keeping the
    entries for other keys; a corrupt file is replaced."""
    path = data_dir / CACHE_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        entries = _entries(path)
    except ValueError:
        entries = {}
    entries[cal.key.text] = _to_json(cal)
    text = json.dumps({"version": _CACHE_VERSION, "entries": entries}, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=".calibration-", suffix=".json", dir=data_dir)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# ---- what this process uses ----------------------------------------------------------------


class Calibrations:
    """The calibrations in use, by (model, compute type), and the choice each gives.
    Read by the pool (on the loop) and the runner (in threads); set once one is measured."""

    def __init__(self, batch: str = "auto") -> None:
        self.batch = batch  # Settings.batch: what `choose` may pick
        self._lock = threading.Lock()
        self._by: dict[tuple[str, str], tuple[Calibration, Choice | None]] = {}

    def put(self, cal: Calibration) -> Choice | None:
        choice = choose(cal.measurements, batch=self.batch)
        with self._lock:
            self._by[(cal.key.model, cal.key.compute_type)] = (cal, choice)
        return choice

    def get(self, model: str, compute_type: str) -> Calibration | None:
        with self._lock:
            found = self._by.get((model, compute_type))
        return found[0] if found else None

    def choice(self, model: str, compute_type: str) -> Choice | None:
        with self._lock:
            found = self._by.get((model, compute_type))
        return found[1] if found else None


async def calibrate_when_idle(
    run: Callable[[Callable[[], bool]], Calibration],
    busy: Callable[[], bool],
    *,
    poll_s: float = 1.0,
    attempts: int = 3,
    quiet: Callable[[], bool] | None = None,
    quiet_wait_s: float = 600.0,
    clock: Callable[[], float] = time.monotonic,
) -> Calibration | None:
    """Run `run(should_stop)` in a thread while nothing else runs; when `busy()` (asked
    on the loop) turns true it is stopped at the next chunk, and tried again at the next
    idle moment, at most `attempts` times. It also waits for `quiet()` (other processes
    leave the cores free: they skew the modes unequally), but at most `quiet_wait_s`
    in all. A failure is logged and gives None."""
    give_up_quiet = clock() + quiet_wait_s

    def wait() -> bool:
        if busy():
            return True
        return quiet is not None and clock() < give_up_quiet and not quiet()

    for _ in range(attempts):
        while wait():  # noqa: ASYNC110 - nothing signals "idle": it is polled
            await asyncio.sleep(poll_s)
        stop = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(run, stop.is_set))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=min(poll_s, 0.2))
                if busy():
                    stop.set()
        finally:
            stop.set()  # cancelled (the server stops): the thread ends at the next chunk
        try:
            return task.result()
        except CalibrationStopped:
            log.info("calibration stopped for a job; it runs again when the machine is idle")
        except Exception as exc:
            log.warning("calibration failed (%s): the rule plans the pool", exc)
            return None
    log.info("calibration stopped %d times by jobs; the rule plans the pool", attempts)
    return None
