"""plan_pool and estimate_footprint: pure rules, checked on made-up and profiled devices."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fake_nvml import GIB, MIB, FakeGPU, FakeNVML
from whisper_ui.engine.planner import (
    Footprint,
    PlannerSettings,
    PoolPlan,
    default_compute_type,
    estimate_footprint,
    plan_pool,
)
from whisper_ui.engine.resources import DeviceInfo, Resources, SystemProbe

PROFILES = Path(__file__).resolve().parents[2] / "configs" / "gpu_profiles.yaml"
TINY = 39_000_000
LARGE = 1_550_000_000
DEFAULT = PlannerSettings()


def cpu(cores: int = 2, free: int = 16 * GIB, total: int = 24 * GIB) -> DeviceInfo:
    return DeviceInfo(
        "cpu", 0, "Test CPU", total, free, physical_cores=cores, logical_cores=cores * 2
    )


def gpu(index: int = 0, total_gib: float = 24, free_gib: float = 23.5) -> DeviceInfo:
    return DeviceInfo("cuda", index, f"GPU {index}", int(total_gib * GIB), int(free_gib * GIB))


def whisper(
    params: int, *, n_mels: int = 80, beam_size: int = 5
) -> Callable[[DeviceInfo, str], Footprint]:
    def footprint(device: DeviceInfo, compute_type: str) -> Footprint:
        return estimate_footprint(
            params, compute_type, device.kind, beam_size=beam_size, n_mels=n_mels
        )

    return footprint


def fixed(weights: int, worker: int) -> Callable[[DeviceInfo, str], Footprint]:
    return lambda device, compute_type: Footprint(weights, worker)


def plan(
    *devices: DeviceInfo,
    footprint: Callable[[DeviceInfo, str], Footprint] | None = None,
    settings: PlannerSettings = DEFAULT,
    **kwargs: Any,
) -> PoolPlan:
    return plan_pool(Resources(devices), footprint or whisper(TINY), settings, **kwargs)


def shape(p: PoolPlan) -> list[tuple[str, int, int, str]]:
    return [(x.device.id, x.workers, x.cpu_threads, x.limited_by) for x in p.placements]


# ---- the documented GPU profiles ---------------------------------------------------------


def _profiles() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load(PROFILES.read_text())["profiles"]
    return rows


@pytest.mark.parametrize("row", _profiles(), ids=lambda r: str(r["name"]))
def test_every_gpu_profile_lands_in_its_expected_range(row: dict[str, Any]) -> None:
    fake = FakeNVML(
        [FakeGPU(row["name"], total=row["total_mib"] * MIB, free=row["free_mib"] * MIB)]
    )
    resources = SystemProbe(nvml=fake, use_torch_fallback=False, environ={}).snapshot()
    assert resources.gpus[0].name == row["name"]
    result = plan_pool(
        resources,
        whisper(row["params"], n_mels=row.get("n_mels", 80), beam_size=row["beam_size"]),
        DEFAULT,
        compute_type=row["compute_type"],
        cuda_ok=True,
    )
    gpu_workers = sum(p.workers for p in result.placements if p.device.kind == "cuda")
    low, high = row["expected_workers"]
    assert low <= gpu_workers <= high, (gpu_workers, result.notes)
    if gpu_workers == 0:
        assert any("cuda:0" in note and "skipped" in note for note in result.notes)
        assert [p.device.id for p in result.placements] == ["cpu"]  # auto falls back
    else:
        (placement,) = result.placements
        assert placement.compute_type == row["compute_type"]
        assert placement.est_bytes <= row["free_mib"] * MIB


def test_profiles_cover_the_documented_cards() -> None:
    names = " ".join(r["name"] for r in _profiles())
    for card in (
        "GTX 1660",
        "RTX 3060",
        "RTX 3070",
        "RTX 3080",
        "RTX 3090",
        "RTX 4090",
        "A100",
        "H100",
    ):
        assert card in names


# ---- CPU ----------------------------------------------------------------------------------


def test_cpu_two_cores_gives_two_single_threaded_workers() -> None:
    # Measured: 2 workers x 1 thread did 4 files 1.38x faster than 1 worker x 2 threads.
    p = plan(cpu(cores=2), settings=PlannerSettings(device="cpu"))
    assert shape(p) == [("cpu", 2, 1, "cores")]
    assert p.placements[0].compute_type == "int8"
    assert p.total_workers == 2


def test_cpu_concurrency_one_gives_one_worker_with_every_core() -> None:
    p = plan(cpu(cores=2), settings=PlannerSettings(device="cpu", concurrency=1))
    assert shape(p) == [("cpu", 1, 2, "concurrency")]


def test_cpu_threads_per_worker_divides_the_cores() -> None:
    p = plan(cpu(cores=8), settings=PlannerSettings(device="cpu", cpu_threads_per_worker=2))
    assert shape(p) == [("cpu", 4, 2, "cores")]


def test_cpu_global_cap() -> None:
    p = plan(cpu(cores=32), settings=PlannerSettings(device="cpu", max_workers=8))
    assert shape(p) == [("cpu", 8, 4, "cap")]


def test_low_ram_bounds_cpu_workers() -> None:
    fp = fixed(100 * MIB, 200 * MIB)
    # 1.5 GiB free - 512 MiB margin - 100 MiB weights = 924 MiB -> 4 workers of 200 MiB.
    p = plan(
        cpu(cores=16, free=1536 * MIB, total=2 * GIB),
        footprint=fp,
        settings=PlannerSettings(device="cpu"),
    )
    assert shape(p) == [("cpu", 4, 4, "memory")]
    assert p.placements[0].est_bytes == 900 * MIB


def test_ram_short_of_the_margin_still_runs_one_worker_with_a_note() -> None:
    fp = fixed(100 * MIB, 200 * MIB)
    p = plan(
        cpu(cores=4, free=400 * MIB, total=2 * GIB),
        footprint=fp,
        settings=PlannerSettings(device="cpu"),
    )
    assert shape(p) == [("cpu", 1, 4, "memory")]
    assert any("margin" in n for n in p.notes)


def test_not_enough_ram_for_the_weights_is_an_empty_plan_with_a_note() -> None:
    p = plan(
        cpu(cores=4, free=1 * GIB),
        footprint=whisper(LARGE),
        settings=PlannerSettings(device="cpu"),
        compute_type="float32",
    )
    assert p.placements == () and p.total_workers == 0
    assert len(p.notes) == 1 and p.notes[0].startswith("cpu: 1.0 GiB RAM available, needs")


def test_held_ram_counts_as_ours() -> None:
    fp = fixed(100 * MIB, 200 * MIB)
    before = plan(
        cpu(cores=16, free=1536 * MIB, total=2 * GIB),
        footprint=fp,
        settings=PlannerSettings(device="cpu"),
    )
    loaded = 100 * MIB + 4 * 200 * MIB
    after = plan(
        cpu(cores=16, free=1536 * MIB - loaded, total=2 * GIB),
        footprint=fp,
        settings=PlannerSettings(device="cpu"),
        held_bytes={"cpu": loaded},
    )
    assert before.total_workers == after.total_workers == 4


# ---- GPU ----------------------------------------------------------------------------------


def test_gpu_defaults_to_float16_and_counts_the_cuda_context() -> None:
    fp = fixed(3 * GIB, 1 * GIB)
    p = plan(cpu(), gpu(total_gib=8, free_gib=7.5), footprint=fp)
    # 7.5 - 0.8 margin - 0.29 context - 3 weights = 3.4 GiB -> 3 workers of 1 GiB
    assert shape(p) == [("cuda:0", 3, 0, "memory")]
    assert p.placements[0].compute_type == "float16"
    assert p.placements[0].est_bytes == 6 * GIB + 300 * MIB


def test_held_bytes_keep_a_gpu_s_capacity_after_our_own_model_loaded() -> None:
    fp = whisper(LARGE, n_mels=128)
    card = gpu(total_gib=8, free_gib=7.6)
    first = plan(cpu(), card, footprint=fp)
    (placement,) = first.placements
    fprint = fp(card, "float16")
    # Our model loaded: NVML now reports its weights, busy workers and the CUDA context
    # as used. Only what the pool holds is handed back; the context stays spent.
    ours = fprint.weights_bytes + placement.workers * fprint.worker_bytes
    after_load = replace(card, free_bytes=card.free_bytes - ours - DEFAULT.cuda_context_bytes)
    again = plan(cpu(), after_load, footprint=fp, held_bytes={"cuda:0": ours})
    assert again.total_workers == first.total_workers == placement.workers >= 2
    # Without held_bytes our own memory would look like someone else's and shrink the plan.
    shrunk = plan(cpu(), after_load, footprint=fp)
    gpu_workers = sum(p.workers for p in shrunk.placements if p.device.kind == "cuda")
    assert gpu_workers < first.total_workers


def test_per_gpu_cap_bounds_a_big_card() -> None:
    p = plan(cpu(), gpu(total_gib=80, free_gib=79), footprint=whisper(LARGE))
    assert shape(p) == [("cuda:0", 4, 0, "per-gpu cap")]
    bigger = plan(
        cpu(),
        gpu(total_gib=80, free_gib=79),
        footprint=whisper(LARGE),
        settings=PlannerSettings(max_workers_per_gpu=6),
    )
    assert shape(bigger) == [("cuda:0", 6, 0, "per-gpu cap")]


def test_global_cap_is_shared_round_robin_most_free_first() -> None:
    gpus = (gpu(0, 24, 20), gpu(1, 24, 22), gpu(2, 24, 21))
    p = plan(cpu(), *gpus, footprint=whisper(LARGE))
    assert p.total_workers == 8
    assert shape(p) == [("cuda:1", 3, 0, "cap"), ("cuda:2", 3, 0, "cap"), ("cuda:0", 2, 0, "cap")]


def test_global_cap_with_a_memory_bound_gpu() -> None:
    fp = fixed(2 * GIB, 1 * GIB)
    gpus = (gpu(0, 8, 4.5), gpu(1, 24, 23))  # cuda:0 has room for 1 worker only
    p = plan(cpu(), *gpus, footprint=fp, settings=PlannerSettings(max_workers=3))
    assert shape(p) == [("cuda:1", 2, 0, "cap"), ("cuda:0", 1, 0, "memory")]


def test_concurrency_is_a_fixed_total_across_gpus() -> None:
    gpus = (gpu(0, 24, 23), gpu(1, 24, 22))
    p = plan(cpu(), *gpus, footprint=whisper(LARGE), settings=PlannerSettings(concurrency=3))
    assert shape(p) == [("cuda:0", 2, 0, "concurrency"), ("cuda:1", 1, 0, "concurrency")]
    one = plan(cpu(), *gpus, footprint=whisper(LARGE), settings=PlannerSettings(concurrency=1))
    assert shape(one) == [("cuda:0", 1, 0, "concurrency")]
    assert any("cuda:1" in n and "not needed" in n for n in one.notes)


def test_concurrency_beyond_what_fits_is_noted() -> None:
    p = plan(
        cpu(),
        gpu(total_gib=24, free_gib=23),
        footprint=whisper(LARGE),
        settings=PlannerSettings(concurrency=6),
    )
    assert p.total_workers == 4
    assert any("concurrency=6" in n for n in p.notes)


def test_a_gpu_without_room_is_skipped_with_a_note_and_others_used() -> None:
    p = plan(cpu(), gpu(0, 6, 2), gpu(1, 12, 11.5), footprint=whisper(LARGE))
    assert [x.device.id for x in p.placements] == ["cuda:1"]
    assert any(
        n.startswith("cuda:0 (GPU 0): 2.0 GiB free, needs") and n.endswith("skipped")
        for n in p.notes
    )


def test_auto_falls_back_to_cpu_when_ctranslate2_has_no_cuda() -> None:
    p = plan(cpu(cores=2), gpu(), cuda_ok=False)
    assert shape(p) == [("cpu", 2, 1, "cores")]
    assert any("CTranslate2 cannot use CUDA" in n for n in p.notes)


def test_auto_falls_back_to_cpu_when_no_gpu_fits() -> None:
    p = plan(cpu(cores=2), gpu(total_gib=4, free_gib=3.5), footprint=whisper(LARGE))
    assert [x.device.id for x in p.placements] == ["cpu"]
    assert p.placements[0].compute_type == "int8"
    assert any("using the CPU" in n for n in p.notes)


def test_auto_without_gpu_uses_the_cpu_and_repeats_the_probe_s_reason() -> None:
    res = Resources((cpu(cores=2),), gpu_note="NVML not available: driver not loaded")
    p = plan_pool(res, whisper(TINY), DEFAULT)
    assert shape(p) == [("cpu", 2, 1, "cores")]
    assert any("driver not loaded" in n for n in p.notes)


def test_device_cuda_with_nothing_fitting_is_an_empty_plan_with_notes() -> None:
    cuda = PlannerSettings(device="cuda")
    p = plan(cpu(), gpu(total_gib=4, free_gib=3.5), footprint=whisper(LARGE), settings=cuda)
    assert p.placements == ()
    assert any("skipped" in n for n in p.notes) and any("device=cuda" in n for n in p.notes)
    assert plan(cpu(), settings=cuda).placements == ()
    no_ct2 = plan(cpu(), gpu(), settings=cuda, cuda_ok=False)
    assert no_ct2.placements == () and "CTranslate2" in no_ct2.notes[0]


def test_device_cpu_ignores_gpus() -> None:
    p = plan(cpu(cores=2), gpu(), settings=PlannerSettings(device="cpu"))
    assert shape(p) == [("cpu", 2, 1, "cores")]


def test_explicit_compute_type_applies_everywhere() -> None:
    p = plan(cpu(), gpu(), compute_type="int8_float16")
    assert p.placements[0].compute_type == "int8_float16"
    auto = plan(cpu(), gpu(), compute_type="auto")
    assert auto.placements[0].compute_type == "float16"


# ---- footprint estimate --------------------------------------------------------------------


def test_default_compute_type() -> None:
    assert default_compute_type("cpu") == "int8"
    assert default_compute_type("cuda") == "float16"


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
@pytest.mark.parametrize("compute_type", ["int8", "float16", "float32", "int8_float16"])
def test_footprint_grows_with_params(kind: Any, compute_type: str) -> None:
    sizes = [
        10_000_000,
        39_000_000,
        74_000_000,
        150_000_000,
        244_000_000,
        500_000_000,
        769_000_000,
        809_000_000,
        1_000_000_000,
        1_550_000_000,
        3_000_000_000,
    ]
    fps = [estimate_footprint(n, compute_type, kind) for n in sizes]
    for a, b in itertools.pairwise(fps):
        assert a.weights_bytes < b.weights_bytes
        assert a.worker_bytes < b.worker_bytes


def test_footprint_grows_with_bytes_per_param() -> None:
    order = ["int8", "float16", "float32"]
    cuda = [estimate_footprint(LARGE, ct, "cuda").weights_bytes for ct in order]
    assert cuda == sorted(cuda) and len(set(cuda)) == 3
    cpu_int8, cpu_fp32 = (
        estimate_footprint(LARGE, ct, "cpu").weights_bytes for ct in ("int8", "float32")
    )
    assert cpu_int8 < cpu_fp32
    # float16 has no fast path on a CPU: CTranslate2 runs it as float32.
    assert estimate_footprint(LARGE, "float16", "cpu") == estimate_footprint(
        LARGE, "float32", "cpu"
    )


def test_footprint_grows_with_beam_and_mels() -> None:
    beams = [
        estimate_footprint(LARGE, "float16", "cuda", beam_size=b, best_of=1).worker_bytes
        for b in (1, 2, 5, 10)
    ]
    assert beams == sorted(beams) and len(set(beams)) == 4
    # faster-whisper's fallback samples best_of=5, so beam 1 still needs room for 5.
    assert estimate_footprint(LARGE, "float16", "cuda", beam_size=1) == estimate_footprint(
        LARGE, "float16", "cuda", beam_size=5
    )
    assert (
        estimate_footprint(LARGE, "float16", "cuda", n_mels=128).worker_bytes
        > estimate_footprint(LARGE, "float16", "cuda", n_mels=80).worker_bytes
    )


def test_footprint_matches_the_measurements_it_was_calibrated_on() -> None:
    # CPU, faster-whisper, beam 5, measured on this project's 2-core build machine.
    tiny = estimate_footprint(TINY, "int8", "cpu")
    base = estimate_footprint(74_000_000, "int8", "cpu")
    # The worst realistic job (a 10-minute piece of continuous speech, then a window
    # with full-context beams and the whole temperature fallback) peaked 280 MB above
    # the loaded model: never below it, at most 15% above.
    assert 280e6 <= tiny.worker_bytes < 1.15 * 280e6
    assert tiny.worker_bytes < base.worker_bytes < 1.5 * tiny.worker_bytes
    assert 60 * MIB < tiny.weights_bytes < 100 * MIB  # measured 69 MiB
    assert 100 * MIB < base.weights_bytes < 140 * MIB  # measured 125 MiB
    # GPU: faster-whisper README, large-v2 fp16 beam 5, one worker: 4525 MB in total.
    large = estimate_footprint(LARGE, "float16", "cuda")
    one_worker = large.weights_bytes + large.worker_bytes + DEFAULT.cuda_context_bytes
    # Conservative: never below the measurement, at most 25% above it (peak factor).
    assert 4.525e9 <= one_worker < 1.25 * 4.525e9


def test_a_cpu_worker_holds_a_10_minute_piece_of_features() -> None:
    # A job's audio is read in pieces of at most 10 minutes: on a CPU its worker budgets
    # one piece, whose features (and the mel matmul's output) grow with the mel bins.
    at_80, at_128 = (estimate_footprint(TINY, "int8", "cpu", n_mels=n) for n in (80, 128))
    extra = 128 - 80
    # the piece's features twice (and the window's once, as on a GPU), float32
    assert at_128.worker_bytes - at_80.worker_bytes == extra * (2 * 60_000 + 3_000) * 4


def test_unknown_compute_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="int3"):
        estimate_footprint(TINY, "int3", "cpu")
    with pytest.raises(ValueError):
        estimate_footprint(0, "int8", "cpu")
