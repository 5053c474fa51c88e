"""faster-whisper's Silero VAD run a block of windows at a time.

faster-whisper's `get_speech_timestamps` hands its whole input to its Silero model,
which copies it into 576-sample windows (512 plus 64 of context) and runs ONNX on
10 000 windows (5.3 min) per call: for a job's 10-minute piece that was the largest
part of its memory (README "How it sizes itself"). This runs the same ONNX session on
BLOCK_WINDOWS windows at a time, carrying the LSTM state from block to block as
faster-whisper carries it between its calls, and builds each block's windows from the
audio in place: the same speech probabilities, bit for bit (tests/unit/test_vad.py),
in memory that does not grow with the input.

`get_speech_timestamps` looks its model up in one place, `faster_whisper.vad.
get_vad_model`; `install` replaces that for the process (the engine's calls and
faster-whisper's own all go through it), reusing the session faster-whisper loads.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

BLOCK_WINDOWS = 1000  # 32 s of 16 kHz audio per ONNX call
_STATE = (1, 1, 128)  # Silero v6's LSTM state (h, c)

_lock = threading.Lock()
_installed: Callable[[], BlockVAD] | None = None


class BlockVAD:
    """Callable like faster_whisper.vad.SileroVADModel: speech probability per window."""

    def __init__(self, session: Any, block_windows: int = BLOCK_WINDOWS) -> None:
        if block_windows < 1:
            raise ValueError(f"block_windows must be positive, got {block_windows}")
        self.session = session
        self.block_windows = block_windows

    def __call__(
        self,
        audio: npt.NDArray[np.float32],
        num_samples: int = 512,
        context_size_samples: int = 64,
    ) -> npt.NDArray[np.float32]:
        if audio.ndim != 1:
            raise ValueError("Input should be a 1D array")
        if audio.shape[0] % num_samples:
            raise ValueError("Input size should be a multiple of num_samples")
        windows = audio.reshape(-1, num_samples)
        n, ctx = len(windows), context_size_samples
        probs = np.empty(n, dtype=np.float32)
        h = np.zeros(_STATE, dtype=np.float32)
        c = np.zeros(_STATE, dtype=np.float32)
        for start in range(0, n, self.block_windows):
            stop = min(n, start + self.block_windows)
            # Each window is prefixed with the last `ctx` samples of the one before it
            # (zeros for the first), as faster-whisper builds its input.
            block = np.empty((stop - start, ctx + num_samples), dtype=np.float32)
            block[:, ctx:] = windows[start:stop]
            block[1:, :ctx] = windows[start : stop - 1, -ctx:]
            block[0, :ctx] = windows[start - 1, -ctx:] if start else 0.0
            out, h, c = self.session.run(None, {"input": block, "h": h, "c": c})
            probs[start:stop] = np.asarray(out, dtype=np.float32).reshape(-1)
        return probs


def install() -> None:
    """Make faster-whisper's VAD run in blocks, for the whole process. Safe to call
    more than once and from several threads."""
    global _installed
    import faster_whisper.vad as fw_vad

    with _lock:
        if _installed is not None and fw_vad.get_vad_model is _installed:
            return
        original = fw_vad.get_vad_model

        @functools.cache
        def get_vad_model() -> BlockVAD:
            return BlockVAD(original().session)

        fw_vad.get_vad_model = get_vad_model
        _installed = get_vad_model
