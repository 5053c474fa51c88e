"""Loads faster-whisper models for the pool (runs in a worker thread)."""

from __future__ import annotations

import logging
from typing import Any

from whisper_ui.engine.catalog import ModelCatalog
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
        model = WhisperModel(
            str(resolved.path),
            device=device.kind,
            device_index=device.index,
            compute_type=placement.compute_type,
            cpu_threads=placement.cpu_threads,
            num_workers=placement.workers,
            local_files_only=True,
        )
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
