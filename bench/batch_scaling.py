"""Does batching chunks pay on this machine? Per-chunk cost of four ways to use every core.

    python bench/batch_scaling.py [--model tiny.en] [--device cpu] [--chunks 16] [--beam 5]

Decodes the same real speech chunks (tests/data/long_speech.mp3 cut by faster-whisper's
VAD into <= 30 s chunks, repeated to --chunks) through CTranslate2 four ways, and prints
the wall time per chunk of each:

  1 worker x all threads, batch 1    what plain faster-whisper does, file after file
  N workers x 1 thread,   batch 1    whisper-ui unbatched: N jobs at once, one per core
  N workers x 1 thread,   batch B    whisper-ui `batch: on` on CPU: N batch threads, B chunks each
  1 worker x all threads, batch B    one big batch at a time

(on a GPU "threads" do not apply: workers share the device). `batch: auto` turns
batching on only where it beats running jobs side by side (engine/runner.batching_enabled);
this script is how to check that on a new machine. It measures encode + generate (the
model's work); VAD, decoding audio and features are the same in every row.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _per_chunk(
    path: str, device: str, workers: int, threads: int, batch: int, chunks: int, beam: int
) -> float:
    """Seconds of wall time per chunk: `workers` concurrent calls of `batch` chunks each
    (the timing core `whisper-ui devices --calibrate` uses: engine/calibrate.py)."""
    from whisper_ui import audio
    from whisper_ui.engine.calibrate import load_model, seconds_per_chunk, speech_chunks

    model = load_model(
        path,
        workers=workers,
        threads=threads,
        compute_type="auto" if device == "cuda" else "int8",
        device=device,
    )
    samples = audio.decode(str(ROOT / "tests" / "data" / "long_speech.mp3"))
    feats = speech_chunks(model, samples, chunks)
    return seconds_per_chunk(model, feats, workers=workers, batch=batch, beam=beam)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="0: physical cores (cpu), 2 (gpu)")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()

    import psutil

    from whisper_ui.config import MODELS_FILE, Settings
    from whisper_ui.engine.catalog import ModelCatalog

    catalog = ModelCatalog.from_file(Settings().resolved_model_cache_dir, MODELS_FILE)
    path = str(catalog.resolve(args.model).path)
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    n = args.workers or (cores if args.device == "cpu" else 2)
    b = args.batch
    rows = [
        (f"1 worker x {cores} threads, batch 1 (plain faster-whisper)", 1, cores, 1),
        (f"{n} workers x 1 thread, batch 1 (whisper-ui unbatched)", n, 1, 1),
        (f"{n} workers x 1 thread, batch {b} (whisper-ui batch: on)", n, 1, b),
        (f"1 worker x {cores} threads, batch {b}", 1, cores, b),
    ]
    print(f"{args.model} on {args.device}, beam {args.beam}, {args.chunks} chunks of real speech")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    base: float | None = None
    for label, workers, threads, batch in rows:
        cost = _per_chunk(path, args.device, workers, threads, batch, args.chunks, args.beam)
        base = base or cost
        print(f"  {label:<58} {cost:6.3f} s/chunk  {base / cost:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
