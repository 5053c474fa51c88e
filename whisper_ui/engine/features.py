"""Whisper's log-mel features computed a block of frames at a time.

faster-whisper's FeatureExtractor frames, windows and Fourier-transforms the whole input
at once: for an hour of 16 kHz audio its peak was +2.9 GB (bench/long_file_memory.py),
about 48 MB per minute, for features that themselves take 32 KB per second. This
subclass computes the same numbers, bit for bit (the same framing, window, FFT, mel
filters and global clamp at max - 8), transforming BLOCK_FRAMES frames at a time: what
remains is the power spectrum (804 bytes per 10 ms frame, 290 MB for an hour) and the
features; the transcriber gives faster-whisper at most 10 minutes at a time (~70 MB).
The loader installs it on every model it loads (`model.feature_extractor`), the one
place faster-whisper looks it up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

BLOCK_FRAMES = 3000  # 30 s per block: the transient is ~10 MB


class BlockFeatureExtractor(FeatureExtractor):  # type: ignore[misc]
    """Drop-in for faster-whisper's FeatureExtractor with bounded working memory."""

    @classmethod
    def like(cls, original: Any) -> BlockFeatureExtractor:
        """One with the same settings as `original` (the model's own extractor)."""
        extractor = cls(
            feature_size=int(original.mel_filters.shape[0]),
            sampling_rate=original.sampling_rate,
            hop_length=original.hop_length,
            chunk_length=original.chunk_length,
            n_fft=original.n_fft,
        )
        extractor.mel_filters = original.mel_filters
        return extractor

    def __call__(
        self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None
    ) -> np.ndarray:
        if chunk_length is not None:  # as the original: the call changes these for good
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        n_fft, hop = self.n_fft, self.hop_length
        half = n_fft // 2
        # The original pads `padding` zeros at the end, then reflects n_fft // 2 samples
        # at both ends (a centred STFT): here in one copy of the audio, not two.
        n = len(waveform) + padding  # the padded body
        n_frames = 1 + n // hop  # of the centred signal: n + 2 * half
        kept = n_frames - 1  # the original drops the last frame
        if n <= half or kept <= 0:  # too short: whatever the original does
            return np.asarray(super().__call__(waveform, padding=padding))
        signal = np.empty(n + 2 * half, dtype=np.float32)
        signal[half : half + len(waveform)] = waveform
        signal[half + len(waveform) : half + n] = 0.0
        signal[:half] = signal[2 * half : half : -1]  # np.pad's "reflect": no edge repeat
        signal[half + n :] = signal[half + n - 2 : n - 2 : -1]
        window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
        # Power spectrum block by block (frames x bins, the layout the original's matmul
        # sees), then one matmul with the mel filters: bit-identical to the original (a
        # matmul per block rounds differently in the last bit, and tiny.en's beam search
        # changed 1.5% of the words of long_speech.mp3 on that alone).
        power = np.empty((kept, n_fft // 2 + 1), dtype=np.float32)
        step = signal.strides[0]
        for start in range(0, kept, BLOCK_FRAMES):
            stop = min(start + BLOCK_FRAMES, kept)
            frames = np.lib.stride_tricks.as_strided(
                signal[start * hop :], (stop - start, n_fft), (hop * step, step), writeable=False
            )
            spectrum = np.fft.rfft(frames * window, axis=-1).astype(np.complex64)
            power[start:stop] = np.abs(spectrum) ** 2
        del signal
        mel = np.asarray(self.mel_filters @ power.T, dtype=np.float32)
        del power
        log_spec = np.log10(np.maximum(mel, 1e-10, out=mel), out=mel)
        np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec


def install(model: Any) -> Any:
    """Give a loaded WhisperModel the block extractor (same features, bounded memory)."""
    extractor = getattr(model, "feature_extractor", None)
    if extractor is not None and not isinstance(extractor, BlockFeatureExtractor):
        model.feature_extractor = BlockFeatureExtractor.like(extractor)
    return model
