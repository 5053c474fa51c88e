"""A GPU that NVML sees but CTranslate2 cannot use: the jobs run on the CPU instead.

The common broken setup (PyPI's CTranslate2 wants cuBLAS for CUDA 12; a driver too old
for its runtime; a container without the CUDA libraries) used to fail every job. Here
NVML is faked (there is no GPU on this machine) and everything else is real: the real
loader asks the real CTranslate2 for the GPU, which fails on this machine exactly as on
a machine whose CUDA libraries are missing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import up, words
from tests.fake_nvml import GIB, FakeGPU, FakeNVML
from tests.spoken import SECOND, SPEECH, found
from whisper_ui.config import Settings
from whisper_ui.domain import JobStatus
from whisper_ui.engine.resources import SystemProbe
from whisper_ui.services import Services, build_services
from whisper_ui.ui.view import resources_markdown

pytestmark = pytest.mark.integration


def with_a_gpu_nvml_sees(tmp_path: Path) -> Services:
    """Services on this machine, with NVML (faked) reporting a GPU and CTranslate2 (real)
    asked to run on it."""
    probe = SystemProbe(
        nvml=FakeNVML([FakeGPU(name="NVIDIA GeForce RTX 3070", total=8 * GIB)]),
        use_torch_fallback=False,
        environ={},
    )
    settings = Settings(data_dir=tmp_path, model="tiny.en", auto_calibrate=False)
    return build_services(settings, probe=probe, cuda_ok=True)


async def test_jobs_go_to_the_cpu_when_the_gpu_cannot_run_ctranslate2(tmp_path: Path) -> None:
    svc = with_a_gpu_nvml_sees(tmp_path)
    assert [p.device.id for p in svc.plan().placements] == ["cuda:0"], "NVML offers the GPU"
    await svc.start()
    try:
        jobs = await svc.dispatcher.submit(
            [up("speech.wav"), up("second_speech.wav")], svc.default_options()
        )
        done = await asyncio.wait_for(
            asyncio.gather(*(svc.dispatcher.wait(j.id) for j in jobs)), 180
        )
        assert [j.status for j in done] == [JobStatus.COMPLETED] * 2, [j.error for j in done]
        texts = [svc.registry.transcript(j.id) for j in jobs]
        assert texts[0] is not None and texts[1] is not None
        assert found(words(SPEECH) - {"a", "of", "the"}, words(texts[0].text)) > 0.7
        assert found(words(SECOND) - {"the", "to"}, words(texts[1].text)) > 0.6
        assert {j.device for j in done} == {"cpu"}

        plan = svc.plan()
        assert [p.device.id for p in plan.placements] == ["cpu"]
        note = next(n for n in plan.notes if n.startswith("cuda:0"))
        assert "NVIDIA GeForce RTX 3070" in note and "cannot run models" in note
        panel = svc.status()
        assert "CUDA" in panel["pool"]["unusable"]["cuda:0"], panel["pool"]
        assert any("cannot run models" in n for n in panel["pool"]["plan_notes"])
        assert "**not used:**" in resources_markdown(panel)
    finally:
        await svc.stop()


def test_devices_check_says_the_gpu_cannot_run_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from whisper_ui.cli import _check_gpus

    svc = with_a_gpu_nvml_sees(tmp_path)
    assert _check_gpus(svc, svc.plan()) == 1
    out = capsys.readouterr().out
    assert "Check: cuda:0 cannot run models: CUDA failed" in out
    assert 'README "GPUs"' in out
