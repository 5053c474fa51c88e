"""Loads faster-whisper models for the pool (runs in a worker thread)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from whisper_ui.engine.catalog import ModelCatalog
from whisper_ui.engine.cuda_libs import preload_cublas
from whisper_ui.engine.errors import DeviceUnusable, is_cuda_setup_error, is_out_of_memory
from whisper_ui.engine.features import install
from whisper_ui.engine.planner import Placement
from whisper_ui.engine.short_encode import install as install_short_encode
from whisper_ui.engine.vad import install as install_block_vad

log = logging.getLogger(__name__)


class WhisperLoader:
    """Resolves a catalog name to a directory and builds a WhisperModel for a placement."""

    def __init__(self, catalog: ModelCatalog, *, short_encode: bool = False) -> None:
        self.catalog = catalog
        self.short_encode = short_encode  # Settings.short_encode: engine/short_encode.py

    def load(self, model: str, placement: Placement) -> Any:
        from faster_whisper import WhisperModel

        resolved = self.catalog.resolve(model)
        device = placement.device
        if device.kind == "cuda":
            preload_cublas()  # nvidia-cublas-cu12, when installed (engine/cuda_libs.py)
        try:
            model = WhisperModel(
                str(resolved.path),
                device=device.kind,
                device_index=device.index,
                compute_type=placement.compute_type,
                cpu_threads=placement.cpu_threads,
                num_workers=placement.workers,
                local_files_only=True,
            )
        except Exception as exc:
            if device.kind == "cuda" and is_cuda_setup_error(exc):
                raise DeviceUnusable(device.id, str(exc)) from exc
            raise
        if device.kind == "cuda":
            check_cuda(model, device.id)
        install(model)  # same features in bounded memory: engine/features.py
        install_block_vad()  # same VAD in bounded memory: engine/vad.py
        return install_short_encode(model) if self.short_encode else model

    def unload(self, model: Any) -> None:
        # Dropping the last reference frees it too; unloading now returns the memory
        # even if a stray reference (a traceback, a generator) is still alive.
        try:
            model.model.unload_model()
        except Exception:
            log.debug("unload_model failed", exc_info=True)


def check_cuda(model: Any, device_id: str) -> None:
    """Encode one window of silence on the GPU. Loading the weights does not touch cuBLAS,
    the first computation does: without this a GPU whose CUDA libraries are missing
    (PyPI's CTranslate2 needs cuBLAS for CUDA 12) loads fine and then fails every job."""
    import ctranslate2
    import numpy as np

    silence = np.zeros((1, int(model.model.n_mels), 3000), dtype=np.float32)
    try:
        model.model.encode(ctranslate2.StorageView.from_array(silence), to_cpu=True)
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        with contextlib.suppress(Exception):
            model.model.unload_model()
        raise DeviceUnusable(device_id, str(exc)) from exc
