"""Measure the devices this process can use: GPUs through NVML, the CPU through psutil.

The pool sizes itself from these numbers, so they must be what is *free now*, not what
the hardware has; and a machine without a GPU (or without a driver, or without
nvidia-ml-py) is a normal machine, never an error. Anything NVML cannot tell us for
one device (temperature on a datacenter card, utilisation on a vGPU) becomes None.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import psutil

_CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge page-aligned number rather than "max".
_CGROUP_V1_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class DeviceInfo:
    """One device as measured at one moment; `free_bytes` is what the planner spends."""

    kind: Literal["cpu", "cuda"]
    index: int
    name: str
    total_bytes: int
    free_bytes: int
    physical_cores: int | None = None  # cpu only: effective (affinity/cgroup aware)
    logical_cores: int | None = None  # cpu only
    utilization_pct: float | None = None  # gpu only
    temperature_c: float | None = None  # gpu only

    @property
    def id(self) -> str:
        """Stable key used by the pool and the planner: "cpu" or "cuda:<index>"."""
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


@dataclass(frozen=True)
class Resources:
    """A snapshot of every usable device; the CPU is always first and always present."""

    devices: tuple[DeviceInfo, ...]
    gpu_note: str | None = None  # why there is no GPU, shown by `whisper-ui devices`

    @property
    def cpu(self) -> DeviceInfo:
        for device in self.devices:
            if device.kind == "cpu":
                return device
        raise LookupError("Resources without a CPU device")  # only a hand-built snapshot

    @property
    def gpus(self) -> tuple[DeviceInfo, ...]:
        return tuple(d for d in self.devices if d.kind == "cuda")


class ResourceProbe(Protocol):
    """Anything that can measure the machine now (the real one, or a fake in tests)."""

    def snapshot(self) -> Resources: ...


class SystemProbe:
    """Real probe: NVML (pynvml) for GPUs; psutil for CPU cores and available RAM;
    torch.cuda.mem_get_info as a fallback when NVML cannot load but torch is installed.

    NVML is initialised once, lazily, and shut down by close(). A failed NVML init is
    remembered (retrying every snapshot would only repeat the same error).

    GPU indices follow CUDA's numbering as far as NVML can tell: when
    CUDA_VISIBLE_DEVICES is set, only the listed GPUs (indices or "GPU-" UUIDs) are
    reported, renumbered 0..n-1 in the listed order, as CUDA does. Bare indices are
    matched against NVML's PCI-bus order, which equals CUDA's order when
    CUDA_DEVICE_ORDER=PCI_BUS_ID or the GPUs are identical.
    """

    def __init__(
        self,
        nvml: Any | None = None,
        *,
        use_torch_fallback: bool = True,
        cpu_limit_bytes: int | None = None,
        environ: Mapping[str, str] | None = None,
        cgroup_root: Path | None = None,
    ) -> None:
        """`nvml` replaces `import pynvml` (tests pass a fake); `cpu_limit_bytes` caps the
        RAM the planner may see (e.g. a user setting); `environ` and `cgroup_root` are
        for tests."""
        self._nvml_module = nvml
        self._use_torch = use_torch_fallback
        self._cpu_limit = cpu_limit_bytes
        self._environ = environ if environ is not None else os.environ
        self._cgroup_root = cgroup_root if cgroup_root is not None else _CGROUP_ROOT
        self._lock = threading.Lock()
        self._nvml: Any | None = None  # the initialised module
        self._nvml_error: str | None = None  # why NVML is unusable, once known
        self._torch: Any | None = None
        self._torch_checked = False
        self._cpu_name: str | None = None

    # ---- public -----------------------------------------------------------------

    def snapshot(self) -> Resources:
        """Measure now. Never raises for a missing or broken GPU stack."""
        cpu = self._cpu_device()
        gpus, note = self._nvml_gpus()
        if gpus is None:
            torch_gpus = self._torch_gpus() if self._use_torch else None
            if torch_gpus:
                return Resources((cpu, *torch_gpus))
            return Resources((cpu,), gpu_note=note)
        if not gpus:
            return Resources((cpu,), gpu_note=note or "NVML reports no GPU")
        return Resources((cpu, *gpus))

    def close(self) -> None:
        """Release NVML (it holds a driver handle); a later snapshot initialises it again."""
        with self._lock:
            if self._nvml is not None:
                with contextlib.suppress(Exception):
                    self._nvml.nvmlShutdown()
                self._nvml = None

    # ---- NVML -------------------------------------------------------------------

    def _init_nvml(self) -> Any | None:
        """The initialised NVML module, or None with `_nvml_error` set; caller holds the lock."""
        if self._nvml is not None or self._nvml_error is not None:
            return self._nvml
        module = self._nvml_module
        if module is None:
            try:
                import pynvml

                module = pynvml
            except ImportError as exc:
                self._nvml_error = f"NVML not available: nvidia-ml-py is not installed ({exc})"
                return None
        try:
            module.nvmlInit()
        except Exception as exc:  # NVMLError, OSError from ctypes, anything from a fake
            self._nvml_error = f"NVML not available: {_describe(exc)}"
            return None
        self._nvml_module = module
        self._nvml = module
        return module

    def _nvml_gpus(self) -> tuple[list[DeviceInfo] | None, str | None]:
        """(devices, note); devices is None when NVML itself is unusable."""
        with self._lock:
            nvml = self._init_nvml()
            if nvml is None:
                return None, self._nvml_error
            try:
                count = int(nvml.nvmlDeviceGetCount())
            except Exception as exc:
                return None, f"NVML could not count GPUs: {_describe(exc)}"
            handles: dict[int, Any] = {}
            notes: list[str] = []
            for i in range(count):
                try:
                    handles[i] = nvml.nvmlDeviceGetHandleByIndex(i)
                except Exception as exc:
                    notes.append(f"GPU {i}: {_describe(exc)}")
            order, visible_note = self._visible(nvml, count, handles)
            if visible_note:
                notes.append(visible_note)
            devices: list[DeviceInfo] = []
            for cuda_index, nvml_index in enumerate(order):
                if nvml_index not in handles:
                    continue  # its CUDA index stays taken: the others keep their numbers
                device = _query_gpu(nvml, handles[nvml_index], cuda_index, nvml_index, notes)
                if device is not None:
                    devices.append(device)
        return devices, ("; ".join(notes) or None)

    def _visible(
        self, nvml: Any, count: int, handles: Mapping[int, Any]
    ) -> tuple[list[int], str | None]:
        """NVML indices in CUDA order, applying CUDA_VISIBLE_DEVICES as CUDA would (see
        the class docstring); position in the list is the CUDA device index."""
        raw = self._environ.get("CUDA_VISIBLE_DEVICES")
        if raw is None:
            return list(range(count)), None
        entries = [e.strip() for e in raw.split(",")]
        if not raw.strip() or entries[0] == "-1":
            return [], f"CUDA_VISIBLE_DEVICES={raw!r} hides every GPU"
        uuids: dict[str, int] = {}
        if any(e.upper().startswith("GPU-") for e in entries):
            for index, handle in handles.items():
                with contextlib.suppress(Exception):
                    uuids[_text(nvml.nvmlDeviceGetUUID(handle)).upper()] = index
        order: list[int] = []
        for entry in entries:
            if entry.isdigit() and int(entry) < count:
                order.append(int(entry))
            elif entry.upper().startswith("GPU-"):
                match = [i for u, i in uuids.items() if u.startswith(entry.upper())]
                if len(match) != 1:
                    break
                order.append(match[0])
            else:
                break  # CUDA ignores everything from the first invalid entry on
        if not order:
            return [], f"CUDA_VISIBLE_DEVICES={raw!r} matches no GPU that NVML sees"
        return order, None

    # ---- torch fallback ---------------------------------------------------------

    def _torch_gpus(self) -> list[DeviceInfo] | None:
        """GPUs as torch sees them, or None. Creates a CUDA context per device (costly,
        which is why this is only the fallback); absence of torch is normal."""
        with self._lock:
            if not self._torch_checked:
                self._torch_checked = True
                try:
                    import torch

                    if torch.cuda.is_available():
                        self._torch = torch
                except Exception:
                    self._torch = None
            torch = self._torch
        if torch is None:
            return None
        devices: list[DeviceInfo] = []
        try:
            for i in range(int(torch.cuda.device_count())):
                free, total = torch.cuda.mem_get_info(i)
                name = str(torch.cuda.get_device_name(i))
                devices.append(DeviceInfo("cuda", i, name, int(total), int(free)))
        except Exception:
            return None
        return devices

    # ---- CPU --------------------------------------------------------------------

    def _cpu_device(self) -> DeviceInfo:
        physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
        logical = psutil.cpu_count(logical=True) or os.cpu_count() or physical
        limits = [n for n in (_affinity_count(), self._cgroup_cpu_limit()) if n is not None]
        if limits:
            physical = min(physical, *limits)
            logical = min(logical, *limits)
        vm = psutil.virtual_memory()
        total, free = int(vm.total), int(vm.available)
        cg = self._cgroup_memory()
        if cg is not None:
            limit, used = cg
            total = min(total, limit)
            free = min(free, max(0, limit - used))
        if self._cpu_limit is not None:
            total = min(total, self._cpu_limit)
            free = min(free, self._cpu_limit)
        if self._cpu_name is None:
            self._cpu_name = _cpu_model_name()
        return DeviceInfo(
            "cpu",
            0,
            self._cpu_name,
            total,
            free,
            physical_cores=max(1, physical),
            logical_cores=max(1, logical),
        )

    def _cgroup_dirs(self) -> list[Path]:
        """This process's own cgroup (v2) first, then the root (a container's namespace)."""
        dirs: list[Path] = []
        try:
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                if line.startswith("0::"):
                    rel = line[3:].strip().lstrip("/")
                    if rel:
                        dirs.append(self._cgroup_root / rel)
        except OSError:
            pass
        dirs.append(self._cgroup_root)
        return dirs

    def _cgroup_cpu_limit(self) -> int | None:
        """CPUs allowed by a cgroup quota (v2 cpu.max or v1 cfs quota), rounded up."""
        for d in self._cgroup_dirs():
            text = _read(d / "cpu.max")
            if text is not None:
                parts = text.split()
                if len(parts) == 2 and parts[0] != "max":
                    with contextlib.suppress(ValueError, ZeroDivisionError):
                        return max(1, math.ceil(int(parts[0]) / int(parts[1])))
                return None
        quota = _read(self._cgroup_root / "cpu" / "cpu.cfs_quota_us")
        period = _read(self._cgroup_root / "cpu" / "cpu.cfs_period_us")
        if quota and period:
            with contextlib.suppress(ValueError, ZeroDivisionError):
                q, p = int(quota), int(period)
                if q > 0 and p > 0:
                    return max(1, math.ceil(q / p))
        return None

    def _cgroup_memory(self) -> tuple[int, int] | None:
        """(limit, used) bytes from cgroup v2 memory.max/current or v1, when a limit is set."""
        for d in self._cgroup_dirs():
            limit_text = _read(d / "memory.max")
            if limit_text is not None:
                current = _read(d / "memory.current")
                if limit_text == "max" or current is None:
                    return None
                with contextlib.suppress(ValueError):
                    return int(limit_text), int(current)
                return None
        v1 = self._cgroup_root / "memory"
        limit_text = _read(v1 / "memory.limit_in_bytes")
        usage_text = _read(v1 / "memory.usage_in_bytes")
        if limit_text and usage_text:
            with contextlib.suppress(ValueError):
                limit = int(limit_text)
                if limit < _CGROUP_V1_UNLIMITED:
                    return limit, int(usage_text)
        return None


def cuda_usable(ct2: Any | None = None) -> bool:
    """Whether CTranslate2 can actually run on CUDA here. NVML (the driver) can see GPUs
    that CTranslate2 cannot use, e.g. a CPU-only wheel or missing CUDA/cuDNN libraries."""
    try:
        if ct2 is None:
            import ctranslate2

            ct2 = ctranslate2
        return int(ct2.get_cuda_device_count()) > 0
    except Exception:
        return False


# ---- helpers --------------------------------------------------------------------


def _query_gpu(
    nvml: Any, handle: Any, cuda_index: int, nvml_index: int, notes: list[str]
) -> DeviceInfo | None:
    """One GPU; only memory is required, every other field degrades to None."""
    try:
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        total, free = int(mem.total), int(mem.free)
    except Exception as exc:
        notes.append(f"GPU {nvml_index}: cannot read memory ({_describe(exc)}); skipped")
        return None
    try:
        name = _text(nvml.nvmlDeviceGetName(handle))
    except Exception:
        name = f"GPU {nvml_index}"
    utilization: float | None
    try:
        utilization = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:
        utilization = None
    temperature: float | None
    try:
        temperature = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
    except Exception:
        temperature = None
    return DeviceInfo(
        "cuda",
        cuda_index,
        name,
        total,
        free,
        utilization_pct=utilization,
        temperature_c=temperature,
    )


def _text(value: Any) -> str:
    """pynvml returns bytes in some versions and str in others."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def _affinity_count() -> int | None:
    """CPUs this process may run on (taskset, container cpusets); None where unsupported."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return len(getter(0)) or None
    except OSError:
        return None


def _cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
