"""`whisper-ui serve | transcribe | devices | models`.

`transcribe` runs files through the same queue, dispatcher and pool as the web app,
so what the CLI measures is what the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from whisper_ui.config import Settings, load_settings
from whisper_ui.options import OPTIONS, UNSET, Option, OptionsError, OptionSet


def _offline_unless_hub(model: str) -> None:
    """Forbid hub traffic unless the chosen model can only come from the hub.

    Must run before faster_whisper (and so huggingface_hub) is imported.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from whisper_ui.config import MODELS_FILE
    from whisper_ui.engine.catalog import load_catalog

    entry = load_catalog(MODELS_FILE).get(model)
    local = Path(model).expanduser().is_dir()
    needs_hub = (entry is not None and entry.source_type == "hub") or (entry is None and not local)
    if not needs_hub:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


# ---- argument parsing ----------------------------------------------------------


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, help="yaml settings file (overrides configs/default.yaml)"
    )
    p.add_argument("--model", help=OPTIONS["model"].help + ", or a CTranslate2 model directory")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--compute-type", help="CTranslate2 compute type (default: int8 on CPU)")
    p.add_argument(
        "--concurrency", help="workers in the pool: a number, or auto (from memory and cores)"
    )


SETTING_FLAGS = frozenset({"model"})
"""Options whose flag is a setting (`_add_common`): the pool loads that model."""


def _typed(opt: Option) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return opt.parse(text)
        except OptionsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = opt.name  # argparse names it in "invalid <name> value"
    return parse


def add_option_flags(p: argparse.ArgumentParser, options: OptionSet = OPTIONS) -> None:
    """One flag per option the CLI exposes, from the declaration (whisper_ui/options.py).

    A flag left out stays UNSET, so the settings' default applies; booleans get
    `--flag/--no-flag` so either way can override a configured default.
    """
    for opt in options.on("cli"):
        if opt.name in SETTING_FLAGS:
            continue
        common: dict[str, Any] = {"dest": opt.name, "default": UNSET, "help": opt.help}
        if opt.base_type is bool:
            p.add_argument(opt.cli_flag, action=argparse.BooleanOptionalAction, **common)
        elif opt.base_type is tuple:
            p.add_argument(opt.cli_flag, nargs="+", type=float, metavar="X", **common)
        elif opt.choices:
            p.add_argument(opt.cli_flag, choices=opt.choices, **common)
        else:
            metavar = opt.name.upper()
            p.add_argument(opt.cli_flag, type=_typed(opt), metavar=metavar, **common)


def option_changes(args: argparse.Namespace, options: OptionSet = OPTIONS) -> dict[str, Any]:
    """The options the command line set (UNSET for the rest), checked by the declaration."""
    changes: dict[str, Any] = {}
    for opt in options.on("cli"):
        if opt.name not in SETTING_FLAGS:
            changes[opt.name] = opt.parse(getattr(args, opt.name, UNSET))
    return changes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whisper-ui", description="Transcribe many audio/video files at once."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    # -v also after the command (`python app.py -v` means `whisper-ui serve -v`).
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[verbose], help="start the web app and API")
    _add_common(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 7860)")
    serve.add_argument("--lan", action="store_true", help="bind 0.0.0.0 and print the LAN URLs")
    serve.add_argument("--data-dir", type=Path, help="where jobs, uploads and exports live")
    serve.add_argument(
        "--auth", action="append", metavar="USER:PASS", help="require a login (repeatable)"
    )
    serve.add_argument("--auth-file", type=Path, help="file with one USER:PASS per line")
    serve.add_argument(
        "--share", action="store_true", help="also try a public share link (needs internet)"
    )

    tr = sub.add_parser(
        "transcribe", parents=[verbose], help="transcribe files and write transcripts"
    )
    _add_common(tr)
    tr.add_argument("files", nargs="+", type=Path, help="audio or video files")
    add_option_flags(tr)
    tr.add_argument("--format", default="txt", help="txt,srt,vtt,json,tsv or all (default txt)")
    tr.add_argument("--output-dir", "-o", type=Path, default=Path("."), help="default: .")
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")

    dev = sub.add_parser(
        "devices", parents=[verbose], help="show devices, free memory and the pool plan"
    )
    _add_common(dev)

    models = sub.add_parser("models", parents=[verbose], help="list the model catalog")
    models.add_argument("--config", type=Path)
    return parser


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        model=getattr(args, "model", None),
        device=getattr(args, "device", None),
        compute_type=getattr(args, "compute_type", None),
        concurrency=getattr(args, "concurrency", None),
        **extra,
    )


# ---- commands -------------------------------------------------------------------


def cmd_transcribe(args: argparse.Namespace) -> int:
    from whisper_ui.export import parse_formats

    try:
        formats = parse_formats(args.format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    _offline_unless_hub(settings.model)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_transcribe(args, settings, formats))


async def _transcribe(
    args: argparse.Namespace, settings: Settings, formats: tuple[str, ...]
) -> int:
    from tqdm import tqdm

    from whisper_ui.domain import Completed, Failed, Progress, Upload
    from whisper_ui.export.files import unique_stems, write_transcript
    from whisper_ui.services import build_services

    services = build_services(settings)
    options = services.default_options(**option_changes(args))
    out_dir: Path = args.output_dir
    await services.start()
    try:
        try:
            jobs = await services.dispatcher.submit(
                [Upload(str(f), f.name) for f in args.files], options, submitter="cli"
            )
        except OptionsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        stems = dict(zip((j.id for j in jobs), unique_stems([j.name for j in jobs]), strict=True))
        show = not args.no_progress
        width = max(len(j.name) for j in jobs)
        bars = {
            job.id: tqdm(
                total=100,
                desc=job.name.ljust(width),
                position=i,
                leave=True,
                disable=not show,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}",
                file=sys.stderr,
            )
            for i, job in enumerate(jobs)
        }

        async def follow(job_id: str) -> bool:
            bar = bars[job_id]
            async for event in services.bus.subscribe(job_id):
                if isinstance(event, Progress):
                    bar.n = round(event.fraction * 100)
                    bar.set_postfix_str(f"{event.audio_done_s:.0f}s", refresh=True)
                elif isinstance(event, Completed):
                    paths = write_transcript(event.transcript, formats, out_dir, stems[job_id])
                    bar.n = 100
                    bar.set_postfix_str("done", refresh=True)
                    _note(" ".join(str(p) for p in paths), sys.stdout, show)
                    return True
                elif isinstance(event, Failed):
                    bar.set_postfix_str("failed", refresh=True)
                    _note(f"error: {event.message}", sys.stderr, show)
                    return False
            return False

        results = await asyncio.gather(*(follow(j.id) for j in jobs))
        for bar in bars.values():
            bar.close()
        failed = results.count(False)
        if failed:
            print(f"{failed} of {len(jobs)} files failed", file=sys.stderr)
        return 1 if failed else 0
    finally:
        await services.stop()


def _note(line: str, stream: TextIO, bars_shown: bool) -> None:
    if bars_shown:
        from tqdm import tqdm

        tqdm.write(line, file=stream)
    else:
        print(line, file=stream)


def cmd_devices(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _offline_unless_hub(settings.model)
    from whisper_ui.engine.runner import batching_enabled
    from whisper_ui.services import build_services

    services = build_services(settings)
    resources = services.probe.snapshot()
    print("Devices:")
    for d in resources.devices:
        line = f"  {d.id:<7} {d.name}: {_gib(d.free_bytes)} free of {_gib(d.total_bytes)}"
        if d.kind == "cpu":
            line += f", {d.physical_cores} physical cores ({d.logical_cores} logical)"
        else:
            if d.utilization_pct is not None:
                line += f", {d.utilization_pct:.0f}% busy"
            if d.temperature_c is not None:
                line += f", {d.temperature_c:.0f} °C"
        print(line)
    plan = services.plan()
    print(f"\nPool plan for model '{settings.model}':")
    if not plan.placements:
        print("  nothing fits")
    for p in plan.placements:
        threads = f" x {p.cpu_threads} threads" if p.device.kind == "cpu" else ""
        batched = batching_enabled(settings.batch, p.device.kind)
        batching = f"batches of up to {settings.max_batch_size}" if batched else "unbatched"
        print(
            f"  {p.device.id:<7} {p.workers} worker(s){threads}, {p.compute_type}, "
            f"~{_gib(p.est_bytes)} (limited by {p.limited_by}), {batching} "
            f"(batch: {settings.batch})"
        )
    for note in plan.notes:
        print(f"  note: {note}")
    print(f"  total: {plan.total_workers} file(s) at once")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from whisper_ui.config import MODELS_FILE

    settings = load_settings(getattr(args, "config", None))
    from whisper_ui.engine.catalog import ModelCatalog

    catalog = ModelCatalog.from_file(settings.resolved_model_cache_dir, MODELS_FILE)
    print(f"{'name':<16} {'size':>8}  {'languages':<12} {'offline':<8} notes")
    for name in catalog.names():
        entry = catalog.entries[name]
        avail = catalog.availability(name)
        langs = "99" if entry.multilingual else ",".join(entry.languages)
        default = " (default)" if name == settings.model else ""
        print(
            f"{name:<16} {entry.size_mb:>5} MB  {langs:<12} "
            f"{'yes' if avail.available else 'no':<8} {avail.reason}{default}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        host="0.0.0.0" if args.lan else args.host,
        port=args.port,
        data_dir=args.data_dir,
        auth=args.auth,
        auth_file=args.auth_file,
        share=args.share or None,
    )
    _offline_unless_hub(settings.model)
    import app

    app.serve(settings)
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "transcribe": cmd_transcribe,
    "devices": cmd_devices,
    "models": cmd_models,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # settings and model errors: one clear line, no traceback
        from pydantic import ValidationError

        from whisper_ui.auth import AuthConfigError

        if isinstance(exc, ValidationError | FileNotFoundError | AuthConfigError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
