"""The plan costs each model with its own input size: large-v3's 128 mel bins, not 80."""

from __future__ import annotations

from pathlib import Path

from tests.fake_nvml import GIB, FakeGPU, FakeNVML
from whisper_ui.config import Settings
from whisper_ui.engine.planner import PlannerSettings, estimate_footprint
from whisper_ui.engine.resources import SystemProbe
from whisper_ui.services import build_services


def test_large_v3_is_planned_with_its_128_mel_bins(tmp_path: Path) -> None:
    gpus = [FakeGPU(name="NVIDIA GeForce RTX 3090", total=24 * GIB)]
    probe = SystemProbe(nvml=FakeNVML(gpus), use_torch_fallback=False, environ={})
    services = build_services(
        Settings(data_dir=tmp_path, model="tiny.en", batch="off"), probe=probe, cuda_ok=True
    )
    for model, params, mels in (("large-v3", 1_550_000_000, 128), ("tiny.en", 39_000_000, 80)):
        placements = services.plan(model).placements
        assert placements, model
        for p in placements:
            fp = estimate_footprint(params, p.compute_type, p.device.kind, n_mels=mels)
            context = PlannerSettings().cuda_context_bytes if p.device.kind == "cuda" else 0
            assert p.est_bytes == fp.weights_bytes + p.workers * fp.worker_bytes + context, (
                model,
                p.device.kind,
            )
