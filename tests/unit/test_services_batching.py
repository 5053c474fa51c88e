"""Where cross-job batching is on by default, and that the plan counts its memory (fake NVML)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_nvml import GIB, FakeGPU, FakeNVML
from whisper_ui.config import Settings
from whisper_ui.engine.resources import SystemProbe
from whisper_ui.engine.runner import batching_enabled
from whisper_ui.services import build_services


@pytest.mark.parametrize(
    ("setting", "kind", "expected"),
    [
        ("auto", "cuda", True),  # a GPU: one chunk leaves it mostly idle
        ("auto", "cpu", False),  # measured: no per-chunk saving here (README Throughput)
        ("on", "cpu", True),
        ("on", "cuda", True),
        ("off", "cuda", False),
        ("off", "cpu", False),
    ],
)
def test_batching_default_per_device(setting: str, kind: str, expected: bool) -> None:
    assert batching_enabled(setting, kind) is expected


def _placements(tmp_path: Path, batch: str, gpus: list[FakeGPU]) -> dict[str, tuple[int, int]]:
    probe = SystemProbe(nvml=FakeNVML(gpus), use_torch_fallback=False, environ={})
    settings = Settings(data_dir=tmp_path / batch, batch=batch, model="tiny.en")
    services = build_services(settings, probe=probe, cuda_ok=bool(gpus))
    plan = services.plan()
    return {p.device.kind: (p.workers, p.est_bytes) for p in plan.placements}


def test_the_gpu_plan_counts_the_batch_working_memory_by_default(tmp_path: Path) -> None:
    card = [FakeGPU(name="NVIDIA GeForce RTX 3070", total=8 * GIB)]
    auto = _placements(tmp_path, "auto", card)
    off = _placements(tmp_path, "off", card)
    assert set(auto) == {"cuda"} and set(off) == {"cuda"}
    (workers_auto, bytes_auto), (workers_off, bytes_off) = auto["cuda"], off["cuda"]
    assert workers_auto == workers_off  # tiny.en: the per-GPU cap, batched or not
    assert bytes_auto > bytes_off, "batches of chunks need more working memory per worker"


def test_the_cpu_plan_is_unbatched_by_default(tmp_path: Path) -> None:
    assert _placements(tmp_path, "auto", []) == _placements(tmp_path, "off", [])
    assert _placements(tmp_path, "on", []) != _placements(tmp_path, "off", [])
