"""engine/diarize on espeak-ng voices made at test time: turns match the script."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from whisper_ui.engine.diarize import (
    HOP_S,
    SPLIT_SILHOUETTE,
    TOO_SHORT,
    WINDOW_S,
    _apart,
    _in_context,
    _refine,
    _silhouette,
    _standardise,
    _stretches,
    cluster,
    diarize,
)

SR = 16000
LINES = [
    "Good morning, thanks for coming in today.",
    "Happy to be here, it is a pleasure.",
    "Let us start with your background please.",
    "I studied physics and then moved into software.",
    "What made you change direction so early?",
    "I liked building things that people could use every day.",
]


def _say(tmp: Path, text: str, voice: str, pitch: int) -> np.ndarray:
    raw, out = tmp / "raw.wav", tmp / "out.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(raw), text], check=True)
    subprocess.run(
        ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "norm", "-3"],
        check=True,
    )
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(x) > 0.02)
    return x[loud[0] : loud[-1] + 1]


def _conversation(tmp: Path, voices: list[tuple[str, int]], lines: int):
    parts, turns, t = [np.zeros(SR // 2, np.float32)], [], 0.5
    for i in range(lines):
        x = _say(tmp, LINES[i % len(LINES)], *voices[i % len(voices)])
        parts += [x, np.zeros(int(0.6 * SR), np.float32)]
        turns.append((t, t + len(x) / SR, i % len(voices)))
        t += len(x) / SR + 0.6
    return np.concatenate(parts), turns


def test_two_voices_alternate_give_two_speakers_on_the_script(tmp_path: Path) -> None:
    audio, script = _conversation(tmp_path, [("en-us+m3", 30), ("en-us+f2", 80)], 6)
    result = diarize(audio)
    assert len(result.speakers) == 2
    first = {0: result.turns[0].speaker}
    for start, end, voice in script:
        mid = (start + end) / 2
        turn = next(t for t in result.turns if t.start <= mid <= t.end)
        first.setdefault(voice, turn.speaker)
        assert turn.speaker == first[voice]
        assert abs(turn.start - start) <= 0.5 or any(
            abs(u.start - start) <= 0.5 for u in result.turns
        )
    assert first[0] != first[1]


def test_one_voice_gives_one_speaker(tmp_path: Path) -> None:
    audio, _ = _conversation(tmp_path, [("en-us+m3", 30)], 4)
    assert diarize(audio).speakers == ("Speaker 1",)


def test_silence_gives_none_and_a_short_file_a_note(tmp_path: Path) -> None:
    silent = diarize(np.zeros(5 * SR, np.float32))
    assert silent.turns == () and silent.note is None
    short = diarize(_say(tmp_path, "Hello.", "en-us", 50))
    assert short.note == TOO_SHORT


def test_n_larger_than_the_voices_is_capped_with_a_note(tmp_path: Path) -> None:
    audio, _ = _conversation(tmp_path, [("en-us+m3", 30), ("en-us+f2", 80)], 6)
    result = diarize(audio, speakers=6)
    assert len(result.speakers) < 6 and result.note is not None


def test_one_voice_saying_three_sentences_is_one_speaker(tmp_path: Path) -> None:
    # three stretches of one voice: a split along the pauses used to score like voices
    for voice in [("en-gb+m7", 55), ("en-us+f2", 80)]:
        audio, _ = _conversation(tmp_path, [voice], 3)
        assert diarize(audio).speakers == ("Speaker 1",)


def test_told_three_voices_each_voice_gets_its_own_speaker(tmp_path: Path) -> None:
    voices = [("en-us+m3", 30), ("en-us+f2", 80), ("en-gb+m7", 55)]
    audio, script = _conversation(tmp_path, voices, 9)
    result = diarize(audio, speakers=3)
    said: dict[int, list[str]] = {}
    for start, end, voice in script:
        mid = (start + end) / 2
        said.setdefault(voice, []).append(
            next(t.speaker for t in result.turns if t.start <= mid <= t.end)
        )
    majority = {v: max(set(names), key=names.count) for v, names in said.items()}
    assert len(set(majority.values())) == 3
    right = sum(name == majority[v] for v, names in said.items() for name in names)
    assert right >= len(script) - 1


def _voice_in_stretches(
    rng: np.random.Generator, means: np.ndarray, stretches: int, windows: int = 8
) -> tuple[np.ndarray, list[tuple[float, float]], np.ndarray]:
    """Synthetic prints: each stretch said by voice `s % len(means)`, every window that
    voice's mean plus noise of its own (the sounds said in it); 0.6 s pauses between."""
    prints, spans, who, t = [], [], [], 0.0
    for s in range(stretches):
        for i in range(windows):
            prints.append(means[s % len(means)] + rng.normal(size=means.shape[1]))
            spans.append((t + i * HOP_S, t + i * HOP_S + WINDOW_S))
            who.append(s % len(means))
        t = spans[-1][1] + 0.6
    return np.asarray(prints, np.float32), spans, np.asarray(who)


def test_windows_sharing_audio_do_not_make_a_stretch_look_like_a_voice() -> None:
    rng = np.random.default_rng(0)
    one = rng.normal(size=(1, 40)) * 3
    prints, spans, _ = _voice_in_stretches(rng, one, 4)
    stretch = _stretches(spans)
    z = _in_context(_standardise(prints), stretch)
    every_pair = ~np.eye(len(z), dtype=bool)
    # neighbours averaged over the same samples look alike: split by stretch, one voice
    # scores like two over all pairs, and near nothing over the pairs apart
    assert _silhouette(z, stretch, every_pair) > SPLIT_SILHOUETTE
    assert _silhouette(z, stretch, _apart(stretch, np.arange(len(z)))) < 0.1
    assert len(set(cluster(prints, spans=spans)[0].tolist())) == 1
    two = rng.normal(size=(2, 40)) * 3
    prints, spans, who = _voice_in_stretches(rng, two, 4)
    labels, _ = cluster(prints, spans=spans)
    assert len(set(labels.tolist())) == 2
    assert len(set(zip(labels.tolist(), who.tolist(), strict=True))) == 2


def test_context_stays_inside_a_stretch() -> None:
    z = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # three stretches, one print each
    stretch = np.repeat(np.arange(3), 4)
    assert np.allclose(_in_context(z, stretch), z)


def test_refinement_moves_a_window_to_the_nearer_centroid() -> None:
    z = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9]], np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    assert _refine(z, np.array([0, 0, 1, 1, 1])).tolist() == [0, 0, 0, 1, 1]
