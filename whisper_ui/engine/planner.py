"""Pure pool planning: (measured devices, model footprint, settings) -> how many workers where.

No I/O here, so every rule can be tested with made-up devices (configs/gpu_profiles.yaml)
and the pool can re-plan as often as it likes. A worker is one CTranslate2 worker
(`num_workers`): the weights are loaded once per device and every worker adds only its
working memory, so capacity = (free - margin - weights) // worker memory.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from whisper_ui.engine.resources import DeviceInfo, Resources

_MIB = 2**20
_GIB = 2**30

Kind = Literal["cpu", "cuda"]


@dataclass(frozen=True)
class Footprint:
    weights_bytes: int  # loaded once per device per (model, compute_type)
    worker_bytes: int  # per concurrent worker: beams, 30 s window, fallback (+ audio on CPU)


def default_compute_type(kind: Kind) -> str:
    """int8 on CPU (fastest there, a quarter of float32's memory); float16 on CUDA."""
    return "int8" if kind == "cpu" else "float16"


# ---- footprint estimate ----------------------------------------------------------------
#
# Weights: bytes per parameter of the compute type, plus a fixed per-model overhead.
#   Measured here (CPU, faster-whisper 1.2 / CTranslate2 4.x, RSS after load minus before):
#   tiny.en int8 69 MiB, float32 171 MiB; base int8 125 MiB, float32 320 MiB; and, from
#   the architecture notes, base loaded twice costs 95 MB (int8) / 301 MB (float32) more
#   than once. float32 is 4 B/param, float16 2. int8 stores 1 B/param plus per-row scales
#   and a few unquantised tensors (norms, biases, positional embeddings): 1.03 B/param is
#   within 3% for large (faster-whisper README: large-v2 int8 uses 1.6 GB less VRAM than
#   float16, i.e. ~1.0 B/param); the small models' extra few MB sit in the fixed
#   overhead (tokenizer, mel filters, CTranslate2 structures: 48 MiB, an upper bound).
#   CTranslate2 falls back to float32 on a CPU without fast float16/bfloat16, and
#   int8_float16 becomes int8_float32 there, so those types are costed as the fallback.
#
# Worker memory, per concurrent worker, in activation elements (see _activation_elements):
#   decoder self-attention KV cache for every hypothesis at Whisper's full 448-token
#   context (worst case: a hallucinating window), the cross-attention KV over the 1500
#   encoder frames (measured not to be tiled per beam), the encoder's hidden states and
#   one layer's attention scores, the mel features and the logits. Hypotheses are
#   max(beam_size, best_of): faster-whisper's temperature fallback samples best_of=5.
#   Activations are float32 on CPU and for float32/int8/int8_float32 on CUDA; float16
#   otherwise.
#   CPU: elements x 4 B + 32 MiB (per-thread scratch, and what the allocator keeps
#     between a beam decode and its fallback) + one 10-minute piece of the job's audio:
#     _PIECE_AUDIO (its samples, the VAD's padded copy, faster-whisper's copy of the
#     speech, the features' padded signal, and memory freed on the way but not
#     returned; the same for every model) + two copies of its n_mels x 60 000 features
#     (the mel matmul's output, then the features: 37 MiB at 80 mels, 59 at 128).
#     It covers the worst realistic job: a 10-minute piece of continuous speech, then a
#     window that hallucinates with all 5 beams at the full context (a 223-token
#     previous-text prompt and 224 generated tokens, CTranslate2's most; end-of-text
#     suppressed), then the whole temperature fallback, 5 samples each as long. That
#     job peaked 280 MB above the loaded model (tiny.en int8, 2 cores; two at once
#     465 MB), its decode alone 147 MB per worker; the model gives 280 MiB (294 MB),
#     147 of them for the decode. The 40 MiB budgeted for audio before held a short
#     file, not a piece: it gave 155 MiB. Not measured: word timestamps' alignment
#     pass, other models on a CPU (only tiny.en is here). Short clean files peak far
#     lower: bench/throughput.py prints their peak next to this estimate (README).
#   CUDA: elements x activation bytes + 200 MiB (CTranslate2 keeps one caching allocator
#     per thread, up to 200 MB of freed blocks each) + 32 MiB (per-thread cuBLAS/cuDNN
#     workspaces). large-v3 float16 beam 5 -> ~0.93 GiB per worker; with the 2.9 GiB of
#     weights and a ~0.3 GiB CUDA context that is 4.2 GiB for one worker, matching the
#     faster-whisper README (large-v2, GPU, fp16, beam 5: 4525 MB for the whole process).
#   On CUDA the steady-state estimate is then multiplied by _CUDA_PEAK_FACTOR (1.75):
#   it does not model the peaks of a temperature-fallback re-decode, the word-timestamp
#   alignment pass, or fragmentation in CTranslate2's caching allocator, and on a GPU an
#   out-of-memory error costs a requeue and a slower device for oom_cooldown_s, while a
#   worker we did not start costs little (beyond ~2-3 decoders a GPU's throughput grows
#   slowly; batching is the better use of a big one). large-v3 float16 -> ~1.6 GiB per
#   worker, which puts the consumer cards in the ranges of configs/gpu_profiles.yaml.
#   The per-worker number is an estimate; the safety margin absorbs its error and the pool
#   lowers a device's capacity after a real out-of-memory error.

_BYTES_PER_PARAM: dict[str, float] = {
    "float32": 4.0,
    "float16": 2.0,
    "bfloat16": 2.0,
    "int16": 2.0,
    "int8": 1.03,
    "int8_float32": 1.03,
    "int8_float16": 1.03,
    "int8_bfloat16": 1.03,
}
# What CTranslate2 actually runs when the device has no fast path for the requested type.
_CPU_FALLBACK = {
    "float16": "float32",
    "bfloat16": "float32",
    "int8_float16": "int8_float32",
    "int8_bfloat16": "int8_float32",
}
_CUDA_FALLBACK = {"int16": "float32"}
_HALF_ACTIVATIONS = frozenset({"float16", "bfloat16", "int8_float16", "int8_bfloat16"})
_WEIGHTS_OVERHEAD = 48 * _MIB
_CPU_WORKER_OVERHEAD = 32 * _MIB
_PIECE_AUDIO = 96 * _MIB  # a 10-minute piece (engine/transcriber.PIECE_S) and its copies
_PIECE_FRAMES = 60_000  # feature frames (10 ms) of a 10-minute piece
_CUDA_WORKER_OVERHEAD = (200 + 32) * _MIB
_CUDA_PEAK_FACTOR = 1.75
# Each extra chunk in a batched call costs this fraction of one chunk's
# worst-case activations: the KV cache is only filled as far as the chunk's real text
# (tens of tokens, not 448). Calibrated with bench/throughput.py (tiny.en int8, beam 5,
# max_batch_size 8, two batch threads; README "## Throughput"): it measured ~0.03, so 0.1
# keeps some room for chunks dense with words.
_BATCH_ITEM_FRACTION = 0.1

# Whisper shapes (params, decoder layers, d_model, attention heads); other sizes are
# interpolated geometrically between neighbours (extrapolated from the end segments).
_WHISPER_SHAPES: tuple[tuple[float, float, float, float], ...] = (
    (39e6, 4, 384, 6),  # tiny
    (74e6, 6, 512, 8),  # base
    (244e6, 12, 768, 12),  # small
    (769e6, 24, 1024, 16),  # medium
    (1550e6, 32, 1280, 20),  # large-v1..v3
)
_AUDIO_FRAMES = 1500  # encoder positions for a 30 s window
_TEXT_CTX = 448  # decoder context
_MEL_FRAMES = 3000
_VOCAB = 51866


def resolve_compute_type(compute_type: str, kind: Kind) -> str:
    """The type CTranslate2 will really use: "auto"/"default" and unsupported fallbacks."""
    if compute_type == "auto":
        return default_compute_type(kind)
    if compute_type == "default":  # keep the stored type: the published models are float16
        compute_type = "float16"
    if compute_type not in _BYTES_PER_PARAM:
        raise ValueError(f"unknown compute type {compute_type!r}")
    fallback = _CPU_FALLBACK if kind == "cpu" else _CUDA_FALLBACK
    return fallback.get(compute_type, compute_type)


def _shape(params: int) -> tuple[float, float, float]:
    """(layers * d_model, d_model, heads) for a Whisper model of `params` parameters."""
    table = _WHISPER_SHAPES
    p = max(float(params), 1.0)
    i = 0
    while i < len(table) - 2 and p > table[i + 1][0]:
        i += 1
    (p0, l0, d0, h0), (p1, l1, d1, h1) = table[i], table[i + 1]
    t = math.log(p / p0) / math.log(p1 / p0)

    def geo(a: float, b: float) -> float:
        return float(a * (b / a) ** t)

    return geo(l0 * d0, l1 * d1), geo(d0, d1), geo(h0, h1)


def _activation_elements(params: int, hypotheses: int, n_mels: int) -> float:
    """Peak live activation elements of one worker decoding one 30 s window."""
    layers_x_d, d_model, heads = _shape(params)
    kv = 2 * layers_x_d * (_AUDIO_FRAMES + hypotheses * _TEXT_CTX)
    encoder = 8 * _AUDIO_FRAMES * d_model + heads * _AUDIO_FRAMES**2
    inputs_outputs = n_mels * _MEL_FRAMES + hypotheses * _VOCAB
    return kv + encoder + inputs_outputs


def estimate_footprint(
    params: int,
    compute_type: str,
    kind: Kind,
    *,
    beam_size: int = 5,
    n_mels: int = 80,
    best_of: int = 5,
    batch_size: int = 1,
) -> Footprint:
    """Memory for a Whisper model of `params` parameters on a `kind` device (see the
    comment above for where every number comes from). `best_of` is faster-whisper's
    sample count on temperature fallback: it sizes the decoder like a beam does.
    `batch_size` > 1 is a worker decoding that many 30 s chunks per call (engine/batcher):
    each extra chunk adds _BATCH_ITEM_FRACTION of one chunk's activations (chunks that
    fall back to sampling go again as a smaller batch of best_of hypotheses each)."""
    if params <= 0:
        raise ValueError("params must be positive")
    ct = resolve_compute_type(compute_type, kind)
    weights = params * _BYTES_PER_PARAM[ct] + _WEIGHTS_OVERHEAD
    elements = _activation_elements(params, max(1, beam_size, best_of), n_mels)
    if batch_size > 1:
        elements *= 1 + (batch_size - 1) * _BATCH_ITEM_FRACTION
    if kind == "cpu":
        piece = _PIECE_AUDIO + 2 * n_mels * _PIECE_FRAMES * 4
        worker = elements * 4 + _CPU_WORKER_OVERHEAD + piece
    else:
        steady = elements * (2 if ct in _HALF_ACTIVATIONS else 4) + _CUDA_WORKER_OVERHEAD
        worker = steady * _CUDA_PEAK_FACTOR
    return Footprint(weights_bytes=math.ceil(weights), worker_bytes=math.ceil(worker))


# ---- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannerSettings:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_workers: int = 8  # global cap across all devices
    # Compute cap: CTranslate2 workers on one GPU share its SMs; beyond ~4 concurrent
    # decoders throughput stops growing while memory keeps going, and batching (a later
    # feature) is the better use of a big GPU.
    max_workers_per_gpu: int = 4
    concurrency: int | None = None  # fixed number of workers requested by the user
    cpu_threads_per_worker: int | None = None  # None = auto: max(1, cores // workers)
    safety_margin_bytes: int = 512 * _MIB
    safety_fraction: float = 0.10  # margin = max(safety_margin_bytes, fraction * total)
    cuda_context_bytes: int = 300 * _MIB  # once per GPU per process
    # (workers, threads per worker) measured on this CPU (engine/calibrate.py); used in
    # place of the one-worker-per-core rule when concurrency and threads are not set.
    cpu_measured: tuple[int, int] | None = None


@dataclass(frozen=True)
class Placement:
    device: DeviceInfo
    compute_type: str
    workers: int  # CTranslate2 num_workers / admission limit on this device
    cpu_threads: int  # intra-op threads per worker (cpu); 0 on gpu = library default
    est_bytes: int  # weights + workers * worker_bytes (+ cuda context)
    limited_by: str  # "memory", "cores", "measured", "cap", "concurrency", "per-gpu cap"


@dataclass(frozen=True)
class PoolPlan:
    placements: tuple[Placement, ...]
    notes: tuple[str, ...] = ()  # human-readable explanations for `whisper-ui devices`

    @property
    def total_workers(self) -> int:
        return sum(p.workers for p in self.placements)


_EMPTY: Mapping[str, int] = types.MappingProxyType({})


def margin_bytes(device: DeviceInfo, settings: PlannerSettings) -> int:
    """Memory left free on a device: other processes and estimate error live here."""
    return max(settings.safety_margin_bytes, int(settings.safety_fraction * device.total_bytes))


def plan_pool(
    resources: Resources,
    footprint: Callable[[DeviceInfo, str], Footprint],
    settings: PlannerSettings,
    *,
    compute_type: str | None = None,
    held_bytes: Mapping[str, int] | None = None,
    cuda_ok: bool = True,
) -> PoolPlan:
    """Decide where workers go. `held_bytes[device.id]` is what our own loaded instances
    of this spec occupy there (NVML counts it as used, but it is ours to re-plan);
    `cuda_ok` says whether CTranslate2 can use CUDA at all (see resources.cuda_usable).
    `compute_type` None or "auto" means the per-device default."""
    held = held_bytes if held_bytes is not None else _EMPTY
    notes: list[str] = []
    gpus = resources.gpus
    if settings.device in ("auto", "cuda"):
        if not gpus:
            reason = resources.gpu_note or "no GPU found"
            if settings.device == "cuda":
                return PoolPlan((), (f"device=cuda but no GPU is usable: {reason}",))
            notes.append(f"no GPU ({reason}); using the CPU")
        elif not cuda_ok:
            msg = "CTranslate2 cannot use CUDA here (CPU-only build or CUDA/cuDNN libs missing)"
            if settings.device == "cuda":
                return PoolPlan((), (f"device=cuda but {msg}",))
            notes.append(f"{len(gpus)} GPU(s) visible, but {msg}; using the CPU")
        else:
            placements = _plan_gpus(gpus, footprint, settings, compute_type, held, notes)
            if placements:
                return PoolPlan(placements, tuple(notes))
            if settings.device == "cuda":
                notes.append("device=cuda but no GPU has room for even one worker")
                return PoolPlan((), tuple(notes))
            notes.append("no GPU has room for even one worker; using the CPU")
    cpu = _plan_cpu(resources.cpu, footprint, settings, compute_type, held, notes)
    return PoolPlan((cpu,) if cpu else (), tuple(notes))


def _wanted_total(settings: PlannerSettings) -> tuple[int, str]:
    """Global worker target and the reason it binds: the user's fixed number or the cap."""
    if settings.concurrency is not None and settings.concurrency <= settings.max_workers:
        return max(1, settings.concurrency), "concurrency"
    return max(1, settings.max_workers), "cap"


def _plan_gpus(
    gpus: tuple[DeviceInfo, ...],
    footprint: Callable[[DeviceInfo, str], Footprint],
    settings: PlannerSettings,
    compute_type: str | None,
    held: Mapping[str, int],
    notes: list[str],
) -> tuple[Placement, ...]:
    ct = _compute_type(compute_type, "cuda")
    fits: list[tuple[DeviceInfo, Footprint, int, int, str]] = []
    for gpu in gpus:
        fp = footprint(gpu, ct)
        mine = held.get(gpu.id, 0)
        context = 0 if mine > 0 else settings.cuda_context_bytes
        margin = margin_bytes(gpu, settings)
        spare = gpu.free_bytes + mine - margin - context - fp.weights_bytes
        by_memory = max(0, spare // max(1, fp.worker_bytes))
        if by_memory < 1:
            need = fp.weights_bytes + fp.worker_bytes + margin + context
            notes.append(
                f"{gpu.id} ({gpu.name}): {_gib(gpu.free_bytes + mine)} free, needs "
                f"{_gib(need)} for {ct} (weights {_gib(fp.weights_bytes)} + 1 worker "
                f"{_gib(fp.worker_bytes)} + margin {_gib(margin)}"
                + (f" + CUDA context {_gib(context)}" if context else "")
                + "); skipped"
            )
            continue
        cap = max(1, settings.max_workers_per_gpu)
        limit, why = (by_memory, "memory") if by_memory < cap else (cap, "per-gpu cap")
        fits.append((gpu, fp, context, limit, why))
    if not fits:
        return ()
    # Round-robin up to the global target, the GPU with the most room first.
    fits.sort(key=lambda f: f[0].free_bytes + held.get(f[0].id, 0), reverse=True)
    target, target_why = _wanted_total(settings)
    counts = [0] * len(fits)
    assigned = 0
    while assigned < target:
        progressed = False
        for i, fit in enumerate(fits):
            if assigned < target and counts[i] < fit[3]:
                counts[i] += 1
                assigned += 1
                progressed = True
        if not progressed:
            break
    if settings.concurrency is not None and assigned < settings.concurrency:
        notes.append(
            f"concurrency={settings.concurrency} requested, only {assigned} worker(s) fit "
            "on the GPU(s)"
            + (f" (max_workers={settings.max_workers})" if target_why == "cap" else "")
        )
    placements: list[Placement] = []
    for (gpu, fp, context, limit, why), n in zip(fits, counts, strict=True):
        if n == 0:
            notes.append(f"{gpu.id} ({gpu.name}): not needed, {target_why} reached")
            continue
        reason = why if n == limit else target_why
        placements.append(
            Placement(
                device=gpu,
                compute_type=ct,
                workers=n,
                cpu_threads=0,
                est_bytes=fp.weights_bytes + n * fp.worker_bytes + context,
                limited_by=reason,
            )
        )
    return tuple(placements)


def _plan_cpu(
    cpu: DeviceInfo,
    footprint: Callable[[DeviceInfo, str], Footprint],
    settings: PlannerSettings,
    compute_type: str | None,
    held: Mapping[str, int],
    notes: list[str],
) -> Placement | None:
    ct = _compute_type(compute_type, "cpu")
    fp = footprint(cpu, ct)
    cores = max(1, cpu.physical_cores or cpu.logical_cores or 1)
    threads = settings.cpu_threads_per_worker
    if settings.concurrency is not None:
        wanted, why = max(1, settings.concurrency), "concurrency"
    elif threads is None and settings.cpu_measured is not None:
        (wanted, threads), why = settings.cpu_measured, "measured"
    else:
        # Measured on 2 cores, tiny.en int8: 2 workers x 1 thread did 4 files 1.38x faster
        # than 1 worker x 2 threads, so by default every core gets its own worker.
        wanted, why = max(1, cores // (threads or 1)), "cores"
    ram = cpu.free_bytes + held.get(cpu.id, 0)
    margin = margin_bytes(cpu, settings)
    by_memory = max(0, (ram - margin - fp.weights_bytes) // max(1, fp.worker_bytes))
    if by_memory < 1:
        if fp.weights_bytes + fp.worker_bytes > ram:
            notes.append(
                f"cpu: {_gib(ram)} RAM available, needs {_gib(fp.weights_bytes + fp.worker_bytes)}"
                f" for {ct} (weights {_gib(fp.weights_bytes)} + 1 worker "
                f"{_gib(fp.worker_bytes)}); nothing fits"
            )
            return None
        notes.append(f"cpu: RAM is short; 1 worker eats into the {_gib(margin)} safety margin")
        by_memory = 1
    workers = wanted
    if by_memory < workers:
        workers, why = by_memory, "memory"
    if settings.max_workers < workers:
        workers, why = max(1, settings.max_workers), "cap"
    if settings.concurrency is not None and workers < settings.concurrency:
        notes.append(f"concurrency={settings.concurrency} requested, {workers} fit ({why})")
    cpu_threads = threads or max(1, cores // workers)
    return Placement(
        device=cpu,
        compute_type=ct,
        workers=workers,
        cpu_threads=cpu_threads,
        est_bytes=fp.weights_bytes + workers * fp.worker_bytes,
        limited_by=why,
    )


def _compute_type(requested: str | None, kind: Kind) -> str:
    if requested is None or requested == "auto":
        return default_compute_type(kind)
    return requested


def _gib(n: int) -> str:
    return f"{n / _GIB:.1f} GiB"
