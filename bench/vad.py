"""Silence turns into words: whisper-ui's engine with VAD on and off, on speech and on none.

    python bench/vad.py [--quick] [--modes off,vad,nospeech,hst] [--repeat 1] [--json out.json]

Generates into a temp dir (espeak-ng, sox, ffmpeg; nothing is committed):

  speech   espeak-ng sentences (short files and a ~1 min one) + tests/data/long_speech.mp3,
           and that file again at peak -40 dBFS (a quiet, far-away speaker)
  pauses   sentences with 20-60 s of digital silence between them, and the same file
           with room noise (pink, peak -50 dBFS) under all of it
  silence  digital silence; pink noise peak -60 dBFS; white noise (hiss) peak -50 dBFS
           and -80 dBFS (dither: near-digital silence)
  music    sox synth: plucked chords, a melody of tones with tremolo, loud pink noise

and runs every mode in its own subprocess through whisper-ui's engine, as a job runs
(build_services + dispatcher.submit, tiny.en int8, beam 5, the CPU default plan, batch
off: engine/transcriber.py), one group at a time with all its files submitted at once:

  off       vad_filter false (the default before issue 11)
  vad       vad_filter true: faster-whisper's bundled Silero VAD, its default parameters
  nospeech  vad off; a window is dropped on no_speech_prob > 0.6 alone
            (faster-whisper's log_prob_threshold=None; not a whisper-ui option)
  hst       vad off; faster-whisper's hallucination_silence_threshold=2 s, which needs
            word timestamps (on for this mode; not a whisper-ui option)

`nospeech` and `hst` reach faster-whisper through the bench's loader (the model's
transcribe with those keywords bound); everything else is the engine's own path.
Prints, per mode: WER against the spoken text on speech and on speech with pauses
(and sentences lost: fewer than half their longer words heard), the words produced on
each non-speech file, the share of the pauses' time that lies under a segment (a
subtitle shown through the silence) with the longest segment, and wall time per group
as a ratio to `off` in the same run (a shared machine: times only compare within one run).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.throughput import SENTENCES, _cores, _cpu_name, _fixture_text, _speak  # noqa: E402
from bench.wer import edit_distance, normalise  # noqa: E402

GROUPS = ("speech", "pauses", "silence", "music")
SPEECH_GROUPS = ("speech", "pauses")


@dataclass(frozen=True)
class Item:
    """One generated file: its group, and the text it speaks ("" for non-speech)."""

    path: str
    group: str
    truth: str
    pauses: list[tuple[float, float]] = field(default_factory=list)  # (start, end) s

    @property
    def name(self) -> str:
        return Path(self.path).name


# ---- corpus ---------------------------------------------------------------------------


def _sox(*args: str) -> None:
    """sox in repeatable mode (-R): its noise is the same bytes on every run."""
    subprocess.run(["sox", "-R", *args], check=True)


def _synth(path: Path, seconds: float, *effects: str) -> Path:
    """16 kHz mono 16-bit audio from sox's synth (`effects` starts with the synth spec)."""
    _sox("-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), *effects)
    return path


def _concat(path: Path, parts: list[Path]) -> Path:
    _sox(*(str(p) for p in parts), str(path))
    return path


def _with_noise(path: Path, clean: Path, peak_db: float) -> Path:
    """`clean` with pink noise of that peak level under all of it (room noise)."""
    seconds = float(subprocess.check_output(["soxi", "-D", str(clean)], text=True))
    noise = _synth(path.with_suffix(".noise.wav"), seconds, "pinknoise", "norm", str(peak_db))
    _sox("-m", str(clean), str(noise), str(path))
    noise.unlink()
    return path


def _quieter(path: Path, source: Path, peak_db: float) -> Path:
    """`source` as 16 kHz mono wav at that peak level (a far-away speaker: where a VAD
    could miss words)."""
    raw = path.with_suffix(".raw.wav")
    ffmpeg = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-ar", "16000", "-ac", "1"]
    subprocess.run([*ffmpeg, str(raw)], check=True)
    _sox(str(raw), str(path), "norm", str(peak_db))
    raw.unlink()
    return path


def _speech(folder: Path, quick: bool) -> list[Item]:
    """espeak-ng sentences, and the committed 90 s of five chapters (2 s gaps)."""
    items: list[Item] = []
    n_short = 3 if quick else 8
    for i in range(n_short):
        text = " ".join(SENTENCES[(i * 2 + k) % len(SENTENCES)] for k in range(1 + i % 2))
        path = _speak(folder / f"speech_{i:02d}.wav", text, speed=160 + 10 * (i % 3))
        items.append(Item(str(path), "speech", text))
    if not quick:
        text = " ".join(SENTENCES[(7 + k) % len(SENTENCES)] for k in range(12))
        path = _speak(folder / "speech_minute.wav", text, speed=165)
        items.append(Item(str(path), "speech", text))
    long_file = folder / "long_speech.mp3"
    shutil.copy(ROOT / "tests" / "data" / "long_speech.mp3", long_file)
    items.append(Item(str(long_file), "speech", _fixture_text()))
    quiet = _quieter(folder / "long_speech_quiet.wav", long_file, -40)
    items.append(Item(str(quiet), "speech", _fixture_text()))
    return items


def _pauses(folder: Path, quick: bool) -> list[Item]:
    """Sentences with long gaps: a speaker who stops to think, a meeting that goes quiet."""
    gaps = [20, 40, 60, 30] if quick else [20, 35, 60, 25, 45, 30, 50]
    sentences = [SENTENCES[(3 + 5 * k) % len(SENTENCES)] for k in range(len(gaps) + 1)]
    parts: list[Path] = []
    pauses: list[tuple[float, float]] = []
    at = 0.0
    for k, text in enumerate(sentences):
        parts.append(_speak(folder / f"pause_part{k}.wav", text, speed=160))
        at += duration(str(parts[-1]))
        if k < len(gaps):
            parts.append(_synth(folder / f"pause_gap{k}.wav", gaps[k], "sine", "0", "vol", "0"))
            pauses.append((at, at + gaps[k]))
            at += gaps[k]
    truth = " ".join(sentences)
    clean = _concat(folder / "pauses_silent.wav", parts)
    for part in parts:
        part.unlink()
    items = [Item(str(clean), "pauses", truth, pauses)]
    noisy = _with_noise(folder / "pauses_room_noise.wav", clean, -50)
    items.append(Item(str(noisy), "pauses", truth, pauses))
    return items


def _silence(folder: Path, quick: bool) -> list[Item]:
    """Nothing to hear: digital zeros, and the noise floor of a quiet room or a cheap mic."""
    seconds = 90 if quick else 600
    specs = {
        "digital_silence.wav": "sine 0 vol 0",
        "pink_-60dB.wav": "pinknoise norm -60",
        "white_-50dB.wav": "whitenoise norm -50",
        "white_-80dB.wav": "whitenoise norm -80",  # dither: all but digital silence
    }
    return [
        Item(str(_synth(folder / name, seconds, *shlex.split(spec))), "silence", "")
        for name, spec in specs.items()
    ]


_CHORDS = (
    ("C3", "E3", "G3", "C4"),
    ("A2", "E3", "A3", "C4"),
    ("F2", "C3", "F3", "A3"),
    ("G2", "D3", "G3", "B3"),
)
_MELODY = ("C4", "E4", "G4", "C5", "B4", "G4", "A4", "F4", "D4", "E4", "C4", "G3")


def _music(folder: Path, quick: bool) -> list[Item]:
    """Music-like sound without words: chords, a melody, loud pink noise (rain, a crowd)."""
    seconds = 60 if quick else 180
    chords: list[Path] = []
    for i, chord in enumerate(_CHORDS):
        strings = [w for note in chord for w in ("pl", note)]  # plucked, as a guitar
        path = folder / f"chord{i}.wav"
        effects = shlex.split("delay 0 .05 .1 .15 remix - fade 0 2.5 .1 norm -6")
        _sox("-n", "-r", "16000", "-b", "16", str(path), "synth", "2.5", *strings, *effects)
        chords.append(path)
    tones: list[Path] = []
    for i, note in enumerate(_MELODY):
        wave = ("square", "sine", "triangle")[i % 3]
        effects = shlex.split("tremolo 6 40 fade 0.02 0.4 0.1 norm -10")
        tones.append(_synth(folder / f"note{i}.wav", 0.4, wave, note, *effects))
    loud_pink = _synth(folder / "pink_-20dB.wav", seconds, "pinknoise", "norm", "-20")
    items = [
        Item(str(_concat(folder / "chords.wav", chords * round(seconds / 10))), "music", ""),
        Item(str(_concat(folder / "melody.wav", tones * round(seconds / 4.8))), "music", ""),
        Item(str(loud_pink), "music", ""),
    ]
    for path in chords + tones:
        path.unlink()
    return items


def make_corpus(folder: Path, quick: bool) -> list[Item]:
    return (
        _speech(folder, quick)
        + _pauses(folder, quick)
        + _silence(folder, quick)
        + _music(folder, quick)
    )


def duration(path: str) -> float:
    from whisper_ui import audio

    return audio.probe(path).duration


# ---- one mode, in a child process --------------------------------------------------------

MODES: dict[str, dict[str, Any]] = {
    "off": {"vad_filter": False, "label": "VAD off (the old default)"},
    "vad": {"vad_filter": True, "label": "VAD on (Silero, faster-whisper's defaults)"},
    "nospeech": {
        "vad_filter": False,
        "fw": {"log_prob_threshold": None},
        "label": "VAD off, drop windows on no_speech_prob > 0.6 alone",
    },
    "hst": {
        "vad_filter": False,
        "word_timestamps": True,
        "fw": {"hallucination_silence_threshold": 2.0},
        "label": "VAD off, hallucination_silence_threshold 2 s (+ word timestamps)",
    },
}


def _loader(catalog: Any, fw: dict[str, Any]) -> Any:
    """The engine's own loader, with faster-whisper keywords bound to each model's
    transcribe (for the filters whisper-ui does not expose)."""
    from whisper_ui.engine.loader import WhisperLoader

    class BoundLoader(WhisperLoader):
        def load(self, model: str, placement: Any) -> Any:
            loaded = super().load(model, placement)
            if fw:
                loaded.transcribe = functools.partial(loaded.transcribe, **fw)
            return loaded

    return BoundLoader(catalog)


def run_mode(mode: str, items: list[Item]) -> dict[str, Any]:
    """Each group through whisper-ui's queue -> dispatcher -> pool, all its files at once."""
    from whisper_ui.config import MODELS_FILE, Settings
    from whisper_ui.domain import Upload
    from whisper_ui.engine.catalog import ModelCatalog
    from whisper_ui.services import build_services

    spec = MODES[mode]

    async def main() -> dict[str, Any]:
        data = Path(tempfile.mkdtemp(prefix="bench-vad-"))
        settings = Settings(data_dir=data, model="tiny.en", batch="off")
        catalog = ModelCatalog.from_file(settings.resolved_model_cache_dir, MODELS_FILE)
        svc = build_services(settings, catalog=catalog, loader=_loader(catalog, spec.get("fw", {})))
        await svc.start()
        try:
            opts = svc.default_options(
                vad_filter=spec["vad_filter"], word_timestamps=spec.get("word_timestamps", False)
            )
            (warm,) = await svc.dispatcher.submit(
                [Upload(str(ROOT / "tests/data/speech.wav"))], opts
            )
            await svc.dispatcher.wait(warm.id)
            walls: dict[str, float] = {}
            texts: dict[str, str] = {}
            times: dict[str, list[tuple[float, float]]] = {}
            for group in GROUPS:
                batch = [i for i in items if i.group == group]
                t0 = time.monotonic()
                jobs = await svc.dispatcher.submit([Upload(i.path, i.name) for i in batch], opts)
                await asyncio.gather(*(svc.dispatcher.wait(j.id) for j in jobs))
                walls[group] = time.monotonic() - t0
                for job in jobs:
                    transcript = svc.registry.transcript(job.id)
                    texts[job.name] = transcript.text if transcript else ""
                    segments = transcript.segments if transcript else ()
                    times[job.name] = [(seg.start, seg.end) for seg in segments]
            plan = [(p.workers, p.cpu_threads) for p in svc.plan().placements]
            return {"walls": walls, "texts": texts, "times": times, "plan": plan}
        finally:
            await svc.stop()
            shutil.rmtree(data, ignore_errors=True)

    return asyncio.run(main())


# ---- the parent: run every mode, print the tables ----------------------------------------


def _isa() -> str:
    from whisper_ui.engine.calibrate import cpu_isa  # the one ISA probe (CTranslate2's kernels)

    return cpu_isa()


def _cpu_id() -> str:
    """family and model from /proc/cpuinfo: a VM's model name is often only "Processor"."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def group_wer(items: list[Item], texts: dict[str, str], group: str) -> float:
    """Edits over reference words, summed over a group's files (one number per group)."""
    edits = words = 0
    for item in items:
        if item.group == group:
            ref = normalise(item.truth)
            edits += edit_distance(ref, normalise(texts.get(item.name, "")))
            words += len(ref)
    return 100.0 * edits / max(1, words)


def sentences_lost(items: list[Item], texts: dict[str, str], group: str) -> int:
    """Sentences (of 3 or more longer words) of which the transcript has fewer than half
    those words: a dropped sentence (what a VAD or a no-speech filter can do), not a
    misheard word ("Chapter one." alone is too short to tell)."""
    lost = 0
    for item in items:
        if item.group != group:
            continue
        heard = set(normalise(texts.get(item.name, "")))
        for sentence in re.split(r"(?<=[.!?])\s+", item.truth):
            content = {w for w in normalise(sentence) if len(w) > 3}
            lost += len(content) >= 3 and len(content & heard) < len(content) / 2
    return lost


def across_pauses(items: list[Item], times: dict[str, list[tuple[float, float]]]) -> str:
    """The share of the pauses' time that lies under a segment (a subtitle shown through
    the silence), and the longest segment: what each mode does to timing around pauses."""
    covered = total = longest = 0.0
    for item in items:
        if not item.pauses:
            continue
        total += sum(b - a for a, b in item.pauses)
        for start, end in times.get(item.name, []):
            longest = max(longest, end - start)
            covered += sum(max(0.0, min(end, b) - max(start, a)) for a, b in item.pauses)
    return f"{100 * covered / max(total, 1e-9):.0f}% ({longest:.0f} s)"


def word_count(text: str) -> int:
    return len(normalise(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter files (~5 min)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; each group's median wall is shown"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        items = [Item(**d) for d in json.loads((args.corpus / "items.json").read_text())]
        args.out.write_text(json.dumps(run_mode(args.child, items)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-vad-corpus-"))
    try:
        items = make_corpus(work, args.quick)
        (work / "items.json").write_text(json.dumps([asdict(i) for i in items]))
        seconds = {i.name: duration(i.path) for i in items}
        for group in GROUPS:
            files = [i for i in items if i.group == group]
            total = sum(seconds[i.name] for i in files)
            print(f"{group}: {len(files)} files, {total:.0f} s")
        print(
            f"cpu: {_cpu_name()} ({_cpu_id()}), ISA {_isa()}, {_cores()} cores, "
            f"load average before: {os.getloadavg()[0]:.2f}"
        )
        runs: dict[str, list[dict[str, Any]]] = {}
        modes = args.modes.split(",")
        for round_ in range(args.repeat):
            for mode in modes:  # rounds interleave the modes: drift hits them all alike
                out = work / f"{mode}.json"
                cmd = [sys.executable, __file__, "--child", mode, "--corpus", str(work)]
                subprocess.run([*cmd, "--out", str(out)], check=True, cwd=ROOT)
                run = json.loads(out.read_text())
                runs.setdefault(mode, []).append(run)
                print(f"  {mode} #{round_ + 1}: {sum(run['walls'].values()):.1f} s", flush=True)
        results = {m: _median_run(rs) for m, rs in runs.items()}
        print_summary(items, results)
        print_files(items, seconds, results)
        print(f"\nplan: {next(iter(results.values()))['plan']} (workers, threads per worker)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.json:
            args.json.write_text(json.dumps({"seconds": seconds, "runs": runs}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _total(run: dict[str, Any]) -> float:
    return float(sum(run["walls"].values()))


def _median_run(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median total wall, each group's wall the median over rounds
    (another process on a shared machine slows one group of one round, not all)."""
    run = dict(sorted(rounds, key=_total)[len(rounds) // 2])
    run["walls"] = {g: statistics.median(r["walls"][g] for r in rounds) for g in GROUPS}
    return run


def print_summary(items: list[Item], results: dict[str, dict[str, Any]]) -> None:
    """One row per mode: WER on the speech groups, words on the others, relative walls."""
    base = results.get("off")
    silent = [g for g in GROUPS if g not in SPEECH_GROUPS]
    print()
    print(
        "| mode | "
        + " | ".join(f"{g} WER % (sentences lost)" for g in SPEECH_GROUPS)
        + " | "
        + " | ".join(f"words on {g}" for g in silent)
        + " | pause time under a segment (longest segment) | "
        + " | ".join(f"{g} wall vs off" for g in GROUPS)
        + " | all wall vs off |"
    )
    print("|" + "---|" * (3 + len(GROUPS) * 2))
    for mode, run in results.items():
        wers = [
            f"{group_wer(items, run['texts'], g):.2f} ({sentences_lost(items, run['texts'], g)})"
            for g in SPEECH_GROUPS
        ]
        counts = [
            str(sum(word_count(run["texts"].get(i.name, "")) for i in items if i.group == g))
            for g in silent
        ]
        walls = [_ratio(run["walls"][g], base["walls"][g] if base else None) for g in GROUPS]
        total = _ratio(_total(run), _total(base) if base else None)
        timing = across_pauses(items, run["times"])
        cells = [*wers, *counts, timing, *walls, total]
        print(f"| {MODES[mode]['label']} | " + " | ".join(cells) + " |")


def _ratio(value: float, ref: float | None) -> str:
    return f"{value / ref:.2f}x" if ref else f"{value:.1f} s"


def print_files(
    items: list[Item], seconds: dict[str, float], results: dict[str, dict[str, Any]]
) -> None:
    """Per file: WER % where it speaks, else the words produced (and the first of them)."""
    modes = list(results)
    print()
    print("| file | s | " + " | ".join(modes) + " |")
    print("|" + "---|" * (2 + len(modes)))
    for item in items:
        cells = []
        for mode in modes:
            text = results[mode]["texts"].get(item.name, "")
            if item.truth:
                ref = normalise(item.truth)
                cells.append(f"WER {100 * edit_distance(ref, normalise(text)) / len(ref):.1f}")
            else:
                words = normalise(text)
                sample = " ".join(words[:4]) + (" ..." if len(words) > 4 else "")
                cells.append(f"{len(words)}" + (f' "{sample}"' if words else ""))
        print(f"| {item.name} | {seconds[item.name]:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
