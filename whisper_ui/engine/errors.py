"""Error kinds the engine distinguishes, and how to recognise an out-of-memory error."""

from __future__ import annotations

_OOM_MARKERS = (
    "out of memory",
    "cuda_error_out_of_memory",
    "cublas_status_alloc_failed",
    "std::bad_alloc",
    "cannot allocate memory",
    "failed to allocate",
)


class TranscriptionCancelled(Exception):
    """Raised out of the transcribing thread when the job was cancelled between segments."""


class PoolError(RuntimeError):
    """The pool cannot give capacity for a request (e.g. the model fits on no device)."""


class ModelLoadError(RuntimeError):
    """A model failed to load; the jobs that asked for it fail with this message."""


class DeviceUnusable(ModelLoadError):
    """CTranslate2 cannot run on this GPU at all: its CUDA libraries are missing or do not
    match the driver (PyPI's CTranslate2 loads cuBLAS for CUDA 12 when it first
    computes). Not the model's fault: the pool stops planning on the device and the
    job runs on another one."""

    def __init__(self, device_id: str, reason: str) -> None:
        super().__init__(f"{device_id} cannot run models: {reason}")
        self.device_id = device_id
        self.reason = reason


class CapacityLost(RuntimeError):
    """The lease went away under a running job (a cluster node left or its model failed
    to load there): the job goes back to the queue and resumes after its last segment."""


_CUDA_SETUP_MARKERS = ("cuda", "cublas", "cudnn", "libcu", "driver")


def is_cuda_setup_error(exc: BaseException) -> bool:
    """A failure of the GPU's software rather than of the model or the memory: a CUDA
    library that cannot be loaded, a driver too old for the runtime, no usable device."""
    text = str(exc).lower()
    return (
        isinstance(exc, RuntimeError | OSError)
        and not is_out_of_memory(exc)
        and any(m in text for m in _CUDA_SETUP_MARKERS)
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """CTranslate2 reports CUDA and host allocation failures as RuntimeError text."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError | OSError) and any(m in text for m in _OOM_MARKERS)
