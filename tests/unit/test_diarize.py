"""engine/diarize on espeak-ng voices made at test time: turns match the script."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from whisper_ui.engine.diarize import TOO_SHORT, diarize

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
