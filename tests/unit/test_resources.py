"""SystemProbe on this (GPU-less) machine and, through a fake NVML, on imaginary GPUs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fake_nvml import GIB, MIB, FakeGPU, FakeNVML, NVMLError
from whisper_ui.engine.resources import DeviceInfo, Resources, SystemProbe, cuda_usable

NO_ENV: dict[str, str] = {}  # CUDA_VISIBLE_DEVICES unset, whatever the test machine has


def probe(fake: FakeNVML, **kwargs: Any) -> SystemProbe:
    kwargs.setdefault("environ", NO_ENV)
    return SystemProbe(nvml=fake, use_torch_fallback=False, **kwargs)


def two_gpus() -> FakeNVML:
    return FakeNVML(
        [
            FakeGPU(
                "NVIDIA GeForce RTX 3090",
                total=24 * GIB,
                free=20 * GIB,
                utilization=35,
                temperature=61,
            ),
            FakeGPU(
                "NVIDIA GeForce RTX 3060",
                total=12 * GIB,
                free=11 * GIB,
                utilization=0,
                temperature=40,
            ),
        ]
    )


def test_real_probe_on_this_machine_reports_the_cpu_and_why_there_is_no_gpu() -> None:
    p = SystemProbe()
    try:
        res = p.snapshot()
    finally:
        p.close()
    cpu = res.cpu
    assert res.devices[0] is cpu and cpu.id == "cpu"
    assert cpu.physical_cores is not None and cpu.physical_cores >= 1
    assert cpu.logical_cores is not None and cpu.logical_cores >= cpu.physical_cores
    assert 0 < cpu.free_bytes <= cpu.total_bytes
    assert cpu.name
    if not res.gpus:  # the build machine has no GPU; a developer's may
        assert res.gpu_note


def test_fake_nvml_with_two_gpus_gives_two_cuda_devices() -> None:
    res = probe(two_gpus()).snapshot()
    assert [d.id for d in res.devices] == ["cpu", "cuda:0", "cuda:1"]
    assert res.gpu_note is None
    first, second = res.gpus
    assert first == DeviceInfo(
        "cuda",
        0,
        "NVIDIA GeForce RTX 3090",
        24 * GIB,
        20 * GIB,
        utilization_pct=35.0,
        temperature_c=61.0,
    )
    assert (second.name, second.total_bytes, second.free_bytes) == (
        "NVIDIA GeForce RTX 3060",
        12 * GIB,
        11 * GIB,
    )
    assert second.physical_cores is None and second.utilization_pct == 0.0


def test_nvml_init_failure_leaves_cpu_only_with_a_note_and_is_not_retried() -> None:
    fake = FakeNVML([FakeGPU()], fail_init=True, init_error="NVML Shared Library Not Found")
    p = probe(fake)
    res = p.snapshot()
    assert [d.kind for d in res.devices] == ["cpu"]
    assert res.gpu_note == "NVML not available: NVML Shared Library Not Found"
    p.snapshot()
    assert fake.init_calls == 1
    p.close()
    assert fake.shutdown_calls == 0  # never initialised, nothing to shut down


def test_missing_pynvml_module_is_a_note_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("pynvml", "torch"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    res = SystemProbe(environ=NO_ENV).snapshot()
    assert not res.gpus
    assert res.gpu_note is not None and "nvidia-ml-py" in res.gpu_note


def test_count_failure_leaves_cpu_only() -> None:
    res = probe(FakeNVML([FakeGPU()], fail_count=True)).snapshot()
    assert not res.gpus and res.gpu_note and "count" in res.gpu_note


def test_nvml_with_no_gpu_says_so() -> None:
    res = probe(FakeNVML([])).snapshot()
    assert not res.gpus and res.gpu_note == "NVML reports no GPU"


def test_unsupported_fields_become_none_not_failures() -> None:
    fake = FakeNVML(
        [FakeGPU("Tesla T4", fail_temperature=True, fail_utilization=True, fail_name=True)]
    )
    (gpu,) = probe(fake).snapshot().gpus
    assert gpu.temperature_c is None and gpu.utilization_pct is None
    assert gpu.name == "GPU 0"
    assert gpu.free_bytes == fake.gpus[0].free


def test_a_gpu_whose_memory_cannot_be_read_is_skipped_the_others_keep_their_index() -> None:
    fake = two_gpus()
    fake.gpus[0].fail_memory = True
    res = probe(fake).snapshot()
    assert [(d.id, d.name) for d in res.gpus] == [("cuda:1", "NVIDIA GeForce RTX 3060")]


def test_a_gpu_without_a_handle_is_skipped_the_others_keep_their_index() -> None:
    fake = two_gpus()
    real = fake.nvmlDeviceGetHandleByIndex

    def flaky(index: int) -> FakeGPU:
        if index == 0:
            raise NVMLError("GPU is lost")
        return real(index)

    fake.nvmlDeviceGetHandleByIndex = flaky  # type: ignore[method-assign]
    res = probe(fake).snapshot()
    assert [d.id for d in res.gpus] == ["cuda:1"]


def test_bytes_names_are_decoded() -> None:
    fake = FakeNVML([FakeGPU("NVIDIA A100-SXM4-80GB", name_as_bytes=True)])
    (gpu,) = probe(fake).snapshot().gpus
    assert gpu.name == "NVIDIA A100-SXM4-80GB"


def test_nvml_is_initialised_once_and_snapshots_see_memory_change() -> None:
    fake = two_gpus()
    p = probe(fake)
    assert p.snapshot().gpus[1].free_bytes == 11 * GIB
    fake.set_free(1, 3 * GIB)  # another process (or our own model) took memory
    assert p.snapshot().gpus[1].free_bytes == 3 * GIB
    assert fake.init_calls == 1


def test_close_shuts_nvml_down_once_and_a_later_snapshot_reinitialises() -> None:
    fake = two_gpus()
    p = probe(fake)
    p.snapshot()
    p.close()
    p.close()
    assert fake.shutdown_calls == 1 and not fake.initialized
    assert len(p.snapshot().gpus) == 2
    assert fake.init_calls == 2
    p.close()


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("1", [("cuda:0", "NVIDIA GeForce RTX 3060")]),
        ("1,0", [("cuda:0", "NVIDIA GeForce RTX 3060"), ("cuda:1", "NVIDIA GeForce RTX 3090")]),
        ("GPU-00000001", [("cuda:0", "NVIDIA GeForce RTX 3060")]),
        ("0,7,1", [("cuda:0", "NVIDIA GeForce RTX 3090")]),  # CUDA stops at an invalid entry
    ],
)
def test_cuda_visible_devices_selects_and_renumbers(
    visible: str, expected: list[tuple[str, str]]
) -> None:
    res = probe(two_gpus(), environ={"CUDA_VISIBLE_DEVICES": visible}).snapshot()
    assert [(d.id, d.name) for d in res.gpus] == expected


@pytest.mark.parametrize("visible", ["", "-1", "7"])
def test_cuda_visible_devices_hiding_everything_is_explained(visible: str) -> None:
    res = probe(two_gpus(), environ={"CUDA_VISIBLE_DEVICES": visible}).snapshot()
    assert not res.gpus
    assert res.gpu_note and "CUDA_VISIBLE_DEVICES" in res.gpu_note


def test_torch_fallback_when_nvml_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    fake_torch = SimpleNamespace(
        cuda=SimpleNamespace(
            is_available=lambda: True,
            device_count=lambda: 1,
            mem_get_info=lambda i: (5 * GIB, 8 * GIB),
            get_device_name=lambda i: "NVIDIA GeForce RTX 3070",
        )
    )
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    p = SystemProbe(nvml=FakeNVML([], fail_init=True), environ=NO_ENV)
    res = p.snapshot()
    assert res.gpus == (DeviceInfo("cuda", 0, "NVIDIA GeForce RTX 3070", 8 * GIB, 5 * GIB),)
    assert res.gpu_note is None
    # ...and without the fallback, the NVML note explains the missing GPU.
    res = SystemProbe(nvml=FakeNVML([], fail_init=True), use_torch_fallback=False).snapshot()
    assert not res.gpus and res.gpu_note


def test_torch_without_cuda_keeps_the_nvml_note(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    fake_torch = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    res = SystemProbe(nvml=FakeNVML([], fail_init=True), environ=NO_ENV).snapshot()
    assert not res.gpus and res.gpu_note and res.gpu_note.startswith("NVML not available")


def _cgroup(root: Path, **files: str) -> Path:
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text + "\n")
    return root


def test_cgroup_v2_limits_cores_and_memory(tmp_path: Path) -> None:
    root = _cgroup(
        tmp_path,
        cpu__max="100000 100000",
        memory__max=str(2 * GIB),
        memory__current=str(1536 * MIB),
    )
    cpu = probe(FakeNVML([]), cgroup_root=root).snapshot().cpu
    assert cpu.physical_cores == 1 and cpu.logical_cores == 1
    assert cpu.total_bytes <= 2 * GIB
    assert cpu.free_bytes <= 512 * MIB


def test_cgroup_without_limits_changes_nothing(tmp_path: Path) -> None:
    root = _cgroup(tmp_path, cpu__max="max 100000", memory__max="max", memory__current="1")
    limited = probe(FakeNVML([]), cgroup_root=root).snapshot().cpu
    assert limited.total_bytes > 2 * MIB and limited.physical_cores is not None
    assert limited.physical_cores >= 1


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    cpu = probe(FakeNVML([]), cgroup_root=tmp_path).snapshot().cpu
    assert cpu.physical_cores is not None and cpu.physical_cores <= 2


def test_cpu_limit_bytes_caps_what_the_planner_sees() -> None:
    cpu = probe(FakeNVML([]), cpu_limit_bytes=256 * MIB).snapshot().cpu
    assert cpu.free_bytes <= 256 * MIB and cpu.total_bytes <= 256 * MIB


def test_resources_properties() -> None:
    cpu = DeviceInfo("cpu", 0, "x", 8 * GIB, 4 * GIB, physical_cores=4, logical_cores=8)
    gpu = DeviceInfo("cuda", 1, "y", 8 * GIB, 7 * GIB)
    res = Resources((cpu, gpu))
    assert res.cpu is cpu and res.gpus == (gpu,) and gpu.id == "cuda:1"


def test_cuda_usable() -> None:
    assert cuda_usable(SimpleNamespace(get_cuda_device_count=lambda: 2)) is True
    assert cuda_usable(SimpleNamespace(get_cuda_device_count=lambda: 0)) is False

    def broken() -> int:
        raise RuntimeError("CUDA driver version is insufficient")

    assert cuda_usable(SimpleNamespace(get_cuda_device_count=broken)) is False
    assert cuda_usable() is False  # the real CTranslate2 on this GPU-less machine
