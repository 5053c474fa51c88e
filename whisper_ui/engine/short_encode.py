"""Encode only the audio a window holds, instead of 30 s of it (Settings.short_encode).

faster-whisper pads every window's features to 3000 frames (30 s) before the encoder,
so a 5 s clip, and the last partial window of every long file, pays a full 30 s
encoder pass. CTranslate2's Whisper `encode()` takes fewer frames since 3.19 (it
checks only `> max_input_time` and cuts the positional embedding to T/2), and the
encoder's cost grows faster than linearly with its length (attention is T^2).

`install` wraps two methods of one WhisperModel instance:

- `encode`: the features faster-whisper passes in are padded with exact zeros at the
  end (`pad_or_trim`); real log-mel columns are never all zero. Those trailing zero
  columns are cut down to the window's content plus TAIL_S, never under FLOOR_S
  (very short contexts are where Whisper repeats itself or misses the end of text).
- `generate_with_fallback`: the guard. When the window was encoded short and the
  decode repeats (compression ratio over the job's threshold) or its last timestamp
  stops more than EARLY_S before the window's content ends, the window is encoded at
  full length and decoded again; that result is the one faster-whisper keeps.

Which encoding a decode belongs to is kept per thread: faster-whisper calls encode
and then generate_with_fallback for each window in the job's own thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAMES = 3000  # the window faster-whisper pads to (30 s at 100 frames per second)
FRAME_S = 0.01
FLOOR_S = 10.0  # never encode less than this
TAIL_S = 2.0  # zero frames kept after a window's content
EARLY_S = 3.0  # a short decode whose text stops this much before the content ends is redone


@dataclass(frozen=True)
class ShortWindow:
    """How a window is encoded: `frames` of its padded features (`content` of them real)."""

    content: int
    frames: int

    @property
    def short(self) -> bool:
        return self.frames < FRAMES


def plan_window(
    features: np.ndarray, *, floor_s: float = FLOOR_S, tail_s: float = TAIL_S
) -> ShortWindow:
    """The frames to encode of one padded window (n_mels x 3000, or 1 x n_mels x 3000):
    its content (up to the last column that is not all zero) + tail, at least the floor,
    rounded up to even (the encoder halves it), at most the full window."""
    cols = np.asarray(features).reshape(-1, features.shape[-1])
    total = cols.shape[-1]
    nonzero = np.flatnonzero(np.any(cols != 0, axis=0))
    content = int(nonzero[-1]) + 1 if len(nonzero) else 0
    frames = max(content + round(tail_s / FRAME_S), round(floor_s / FRAME_S))
    frames += frames % 2
    return ShortWindow(content=content, frames=min(total, frames))


def ends_early(tokens: list[int], timestamp_begin: int, content_s: float) -> bool:
    """Whether a decode's last timestamp token lies more than EARLY_S before the
    content's end (no timestamp at all counts as early only when there is no text)."""
    stamps = [t for t in tokens if t >= timestamp_begin]
    text = [t for t in tokens if t < timestamp_begin]
    if not stamps:
        return not text and content_s > EARLY_S
    return content_s - (stamps[-1] - timestamp_begin) * 0.02 > EARLY_S


class _State(threading.local):
    window: ShortWindow | None = None
    full: np.ndarray | None = None


def install(model: Any, *, floor_s: float = FLOOR_S, tail_s: float = TAIL_S) -> Any:
    """Make `model` (a faster_whisper.WhisperModel) encode windows at their length,
    with the guard described in the module docstring. Returns the model; a model it
    was already installed on is left as it is."""
    if getattr(model, "_short_encode", False):
        return model
    encode_full = model.encode
    generate = model.generate_with_fallback
    state = _State()

    def encode(features: np.ndarray) -> Any:
        window = plan_window(features, floor_s=floor_s, tail_s=tail_s)
        if not window.short:
            state.window, state.full = None, None
            return encode_full(features)
        state.window, state.full = window, features
        return encode_full(np.ascontiguousarray(features[..., : window.frames]))

    def generate_with_fallback(
        encoder_output: Any, prompt: list[int], tokenizer: Any, options: Any
    ) -> Any:
        result = generate(encoder_output, prompt, tokenizer, options)
        window, full = state.window, state.full
        state.window, state.full = None, None
        if window is None or full is None:
            return result
        decoded, _, _, compression = result
        threshold = options.compression_ratio_threshold
        repeats = threshold is not None and compression > threshold
        early = ends_early(
            list(decoded.sequences_ids[0]), tokenizer.timestamp_begin, window.content * FRAME_S
        )
        if not (repeats or early):
            return result
        return generate(encode_full(full), prompt, tokenizer, options)

    model.encode = encode
    model.generate_with_fallback = generate_with_fallback
    model._short_encode = True
    return model
