"""A fake `pynvml` module object, so GPU code paths run on machines without a GPU.

Pass an instance wherever the code would use the `pynvml` module
(`SystemProbe(nvml=FakeNVML([...]))`). Like real NVML, every device call before
nvmlInit (or after nvmlShutdown) raises NVMLError("Uninitialized").
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

MIB = 2**20
GIB = 2**30


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError (the probe must catch it, never crash)."""


@dataclass
class FakeGPU:
    name: str = "NVIDIA GeForce RTX 3060"
    total: int = 12 * GIB
    free: int | None = None  # default: total - used
    used: int = 500 * MIB
    utilization: int = 7
    memory_utilization: int = 3
    temperature: int = 45
    uuid: str = ""
    name_as_bytes: bool = False  # older pynvml returned bytes
    fail_temperature: bool = False  # e.g. a passively cooled data-center card
    fail_utilization: bool = False
    fail_memory: bool = False
    fail_name: bool = False

    def __post_init__(self) -> None:
        if self.free is None:
            self.free = self.total - self.used
        else:
            self.used = self.total - self.free


class FakeNVML:
    """The subset of pynvml that whisper_ui.engine.resources calls, with call counters."""

    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = 0

    def __init__(
        self,
        gpus: list[FakeGPU] | None = None,
        *,
        fail_init: bool = False,
        fail_count: bool = False,
        init_error: str = "Driver Not Loaded",
    ) -> None:
        self.gpus: list[FakeGPU] = list(gpus or [])
        for i, gpu in enumerate(self.gpus):
            if not gpu.uuid:
                gpu.uuid = f"GPU-{i:08d}-fake-0000-0000-000000000000"
        self.fail_init = fail_init
        self.fail_count = fail_count
        self.init_error = init_error
        self.initialized = False
        self.init_calls = 0
        self.shutdown_calls = 0

    # ---- test controls --------------------------------------------------------------

    def set_free(self, index: int, free_bytes: int) -> None:
        """Simulate another process (or our own model) taking or releasing memory."""
        gpu = self.gpus[index]
        gpu.free = free_bytes
        gpu.used = gpu.total - free_bytes

    # ---- pynvml API -----------------------------------------------------------------

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.fail_init:
            raise NVMLError(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._check()
        self.shutdown_calls += 1
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        if self.fail_count:
            raise NVMLError("Unknown Error")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGPU:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise NVMLError("Invalid Argument")
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGPU) -> str | bytes:
        self._check()
        if handle.fail_name:
            raise NVMLError("Not Supported")
        return handle.name.encode() if handle.name_as_bytes else handle.name

    def nvmlDeviceGetUUID(self, handle: FakeGPU) -> str:
        self._check()
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGPU, version: Any = None) -> Any:
        self._check()
        if handle.fail_memory:
            raise NVMLError("GPU is lost")
        return SimpleNamespace(total=handle.total, free=handle.free, used=handle.used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGPU) -> Any:
        self._check()
        if handle.fail_utilization:
            raise NVMLError("Not Supported")
        return SimpleNamespace(gpu=handle.utilization, memory=handle.memory_utilization)

    def nvmlDeviceGetTemperature(self, handle: FakeGPU, sensor: int) -> int:
        self._check()
        if handle.fail_temperature or sensor != self.NVML_TEMPERATURE_GPU:
            raise NVMLError("Not Supported")
        return handle.temperature

    def _check(self) -> None:
        if not self.initialized:
            raise NVMLError("Uninitialized")
