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


class CapacityLost(RuntimeError):
    """The lease went away under a running job (a cluster node left or its model failed
    to load there): the job goes back to the queue and resumes after its last segment."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CTranslate2 reports CUDA and host allocation failures as RuntimeError text."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError | OSError) and any(m in text for m in _OOM_MARKERS)
