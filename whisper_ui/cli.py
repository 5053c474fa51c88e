"""`whisper-ui serve | transcribe | devices | models`.

`transcribe` runs files through the same queue, dispatcher and pool as the web app,
so what the CLI measures is what the server does. Its report is written for whoever
reads it: on a terminal, lines redrawn in place (position, speed, ETA per file and for
the batch); piped or in CI, plain lines with no carriage returns or escapes; either
way a summary of what was written where, what failed and why, and how long it took.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import io
import logging
import os
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from whisper_ui import __version__
from whisper_ui.config import Settings, load_settings
from whisper_ui.options import OPTIONS, UNSET, Option, OptionsError, OptionSet

if TYPE_CHECKING:
    from whisper_ui.domain import JobEvent
    from whisper_ui.engine.planner import PoolPlan
    from whisper_ui.jobs.events import EventBus
    from whisper_ui.services import Services


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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs")
    p.add_argument(
        "--compute-type",
        help="CTranslate2 compute type; auto is int8 on CPU, float16 on CUDA",
    )
    p.add_argument(
        "--concurrency", help="workers in the pool: a number, or auto (from memory and cores)"
    )


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Epilogs keep their lines (the examples), and each flag says what leaving it out
    means: the configured value (configs/default.yaml, then WHISPER_UI__* variables),
    not argparse's placeholder (None, or UNSET for the per-job options)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # Python 3.10's BooleanOptionalAction adds this itself, and would print UNSET.
        text = (action.help or "").replace(" (default: %(default)s)", "")
        if text == argparse.SUPPRESS:
            return action.help
        shown = _shown_default(action)
        if shown is None:
            return text
        return f"{text} (default: {shown.replace('%', '%%')})"


def _shown_default(action: argparse.Action) -> str | None:
    """What a flag left out amounts to, in words; None where that says nothing
    (positionals, on/off switches, empty values)."""
    if not action.option_strings:
        return None
    boolean = isinstance(action, argparse.BooleanOptionalAction)
    if action.nargs == 0 and not boolean:  # store_true, --help, --version
        return None
    value = action.default
    if value is None or value is UNSET:
        value = _configured_defaults().get(action.dest)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@functools.cache
def _configured_defaults() -> dict[str, Any]:
    """The settings a run starts from with no flags, by flag destination.

    {} when they do not load (a bad WHISPER_UI__* value): --help still works, and the
    command itself reports the error.
    """
    try:
        settings = load_settings()
    except Exception:  # any settings error: help shows fewer defaults, never a traceback
        return {}
    values = settings.model_dump()
    values["data_dir"] = settings.resolved_data_dir
    for name in ("concurrency", "language"):
        values[name] = values[name] if values[name] is not None else "auto"
    return values


EXAMPLES = {
    None: """\
examples:
  whisper-ui transcribe talk.mp3 interview.m4a --format srt,txt -o out/
  whisper-ui serve --lan
  whisper-ui devices
  whisper-ui transcribe --help      # every flag of a command, with its default
""",
    "serve": """\
examples:
  whisper-ui serve                  # http://127.0.0.1:7860 (same as: python app.py)
  whisper-ui serve --lan --auth alice:secret
  whisper-ui serve --port 8000 --config my.yaml
  whisper-ui serve --cluster 192.168.1.10:6379   # jobs on a Ray cluster (README)
""",
    "transcribe": """\
examples:
  whisper-ui transcribe talk.mp3 interview.m4a -o out/
  whisper-ui transcribe *.wav --format srt,vtt --language en --concurrency 2
  whisper-ui transcribe lecture.mp4 --format all --beam-size 1 --no-vad

On a terminal each running file has a line redrawn in place (position/duration,
speed, ETA) above a total; piped or redirected, plain lines. Either way a summary
says where each transcript was written or why a file failed.
exit status: 0 every file written, 1 any failed (the others are still written),
2 bad arguments.
""",
    "devices": """\
examples:
  whisper-ui devices
  whisper-ui devices --model base --device cpu
  whisper-ui devices --concurrency 2
  whisper-ui devices --calibrate    # time this CPU's ways to run; the pool keeps the best
  whisper-ui devices --check        # can CTranslate2 compute on each GPU? (README "GPUs")
""",
    "models": """\
examples:
  whisper-ui models
  whisper-ui models --config my.yaml
""",
}
"""Each parser's epilog: real invocations (tests/integration/test_cli.py runs --help)."""

DEFAULTS_NOTE = """
The defaults shown are configs/default.yaml's as WHISPER_UI__* variables change them;
a --config file overrides them too.
"""


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
        prog="whisper-ui",
        description="Transcribe many audio/video files at once.",
        epilog=EXAMPLES[None],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    # -v also after the command (`python app.py -v` means `whisper-ui serve -v`).
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[verbose],
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=EXAMPLES[name] + DEFAULTS_NOTE,
            formatter_class=HelpFormatter,
        )

    serve = command("serve", "start the web app and API")
    _add_common(serve)
    serve.add_argument("--host", help="bind address")
    serve.add_argument("--port", type=int, help="port")
    serve.add_argument("--lan", action="store_true", help="bind 0.0.0.0 and print the LAN URLs")
    serve.add_argument("--data-dir", type=Path, help="where jobs, uploads and exports live")
    serve.add_argument(
        "--auth", action="append", metavar="USER:PASS", help="require a login (repeatable)"
    )
    serve.add_argument("--auth-file", type=Path, help="file with one USER:PASS per line")
    serve.add_argument(
        "--share", action="store_true", help="also try a public share link (needs internet)"
    )
    serve.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the jobs on the Ray cluster at HOST:PORT (needs whisper-ui[cluster])",
    )

    tr = command("transcribe", "transcribe files and write transcripts")
    _add_common(tr)
    tr.add_argument("files", nargs="+", type=Path, help="audio or video files")
    add_option_flags(tr)
    tr.add_argument("--format", default="txt", help="txt,srt,vtt,json,tsv or all")
    tr.add_argument(
        "--output-dir", "-o", type=Path, default=Path("."), help="where transcripts are written"
    )
    tr.add_argument(
        "--no-progress",
        action="store_true",
        help="plain lines even on a terminal (nothing redrawn in place)",
    )

    dev = command("devices", "show devices, free memory and the pool plan")
    _add_common(dev)
    dev.add_argument("--cluster", metavar="ADDRESS", help="every node of this Ray cluster")
    dev.add_argument(
        "--calibrate",
        action="store_true",
        help="time a few chunks of the model each way on this CPU (under a minute) and "
        "cache the best plan in the data dir",
    )
    dev.add_argument(
        "--check",
        action="store_true",
        help="load the model on every GPU of the plan and compute once: a GPU whose CUDA "
        "libraries are missing shows here, not in the first job",
    )

    models = command("models", "list the model catalog")
    models.add_argument(
        "--config", type=Path, help="yaml settings file (overrides configs/default.yaml)"
    )
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

    for stream in (sys.stdout, sys.stderr):
        _tolerant(stream)
    try:
        formats = parse_formats(args.format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    _offline_unless_hub(settings.model)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_transcribe(args, settings, formats))


def _tolerant(stream: TextIO) -> None:
    """Escape what the stream's encoding cannot write instead of raising.

    A file name that is not valid UTF-8 reaches Python as lone surrogates; printing it
    would kill the batch half-way, `backslashreplace` shows it as `\\udcxx` instead.
    """
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")


async def _transcribe(
    args: argparse.Namespace, settings: Settings, formats: tuple[str, ...]
) -> int:
    from whisper_ui.domain import Upload
    from whisper_ui.export.files import unique_stems
    from whisper_ui.jobs.queue import QueueFull
    from whisper_ui.services import build_services

    began = time.monotonic()  # the summary's wall time includes loading the model
    services = build_services(settings)
    options = services.default_options(**option_changes(args))
    await services.start()
    try:
        try:
            jobs = await services.dispatcher.submit(
                [Upload(str(f), f.name) for f in args.files], options, submitter="cli"
            )
        except (OptionsError, QueueFull) as exc:
            hint = f" (max_queue is {settings.max_queue})" if isinstance(exc, QueueFull) else ""
            print(f"error: {exc}{hint}", file=sys.stderr)
            return 2
        stems = unique_stems([j.name for j in jobs])
        batch = Batch(
            {j.id: FileRun(j.name, stem, j.duration) for j, stem in zip(jobs, stems, strict=True)},
            began,
        )
        look = Look.detect(sys.stdout, no_progress=args.no_progress, environ=os.environ)
        view = BatchView(batch, look, sys.stdout, sys.stderr)
        return await _follow_batch(services.bus, batch, view, formats, args.output_dir)
    finally:
        await services.stop()


async def _follow_batch(
    bus: EventBus, batch: Batch, view: BatchView, formats: tuple[str, ...], out_dir: Path
) -> int:
    """Follow every job to its end while the view keeps up; 0 if every file was written.

    The summary is printed on the way out even when interrupted (Ctrl-C), so the user
    learns which files were written before the stop.
    """
    view.redraw()
    ticker = asyncio.get_running_loop().create_task(_tick(view)) if view.look.live else None
    try:
        await asyncio.gather(
            *(_follow(bus, job_id, batch, view, formats, out_dir) for job_id in batch.runs)
        )
    finally:
        if ticker is not None:
            ticker.cancel()
        view.close()
    return 0 if batch.all_done() else 1


async def _tick(view: BatchView) -> None:
    """Redraw a few times a second: the ETA counts down between progress events, which
    come only once per decoded segment."""
    while True:
        await asyncio.sleep(REDRAW_S)
        view.redraw()


async def _follow(
    bus: EventBus,
    job_id: str,
    batch: Batch,
    view: BatchView,
    formats: tuple[str, ...],
    out_dir: Path,
) -> None:
    """One job's events, in order, into its FileRun; its transcript is written on Completed.

    A transcript that cannot be written (disk full, no permission) fails that file
    alone, with the reason, like a file that could not be decoded.
    """
    from whisper_ui.domain import Cancelled, Completed, Failed, Started
    from whisper_ui.export.files import write_transcript

    run = batch.runs[job_id]
    async for event in bus.subscribe(job_id):
        now = time.monotonic()
        if isinstance(event, Completed):
            try:
                paths = write_transcript(event.transcript, formats, out_dir, run.stem)
            except OSError as exc:
                run.fail(f"could not write its transcript: {_os_reason(exc)}", now)
                view.failed(run)
            else:
                run.succeed(tuple(paths), now)
                view.finished(run)
        elif isinstance(event, Failed | Cancelled):
            message = event.message if isinstance(event, Failed) else "cancelled"
            run.fail(_reason(message, run.name), now)
            view.failed(run)
        else:
            warned = run.apply(event, now)
            if isinstance(event, Started):
                view.started(run)
            if warned:
                view.warned(run, warned)


def _reason(message: str, name: str) -> str:
    """A failure message without its leading "name: " (the report prints the name itself)."""
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _os_reason(exc: OSError) -> str:
    """Say "out/talk.txt: Permission denied", not "[Errno 13] Permission denied: '…'"."""
    target = exc.filename2 or exc.filename  # os.replace(tmp, target): the target
    if exc.strerror and target:
        return f"{target}: {exc.strerror}"
    return exc.strerror or str(exc)


# ---- the batch's progress: what is known, and how it is shown ---------------------

REDRAW_S = 0.2
"""How often the live lines are redrawn on a terminal."""

NAME_COLUMN_MAX = 40
"""Widest the file-name column gets; longer names push their own line wider."""

RunStatus = Literal["queued", "running", "done", "failed"]


@dataclass
class FileRun:
    """One file of the batch as the command line reports it, updated from its job's events.

    Times are `time.monotonic()` seconds. Speed and ETA are taken at the last progress
    event, not now: progress arrives once per decoded segment, and a speed measured in
    between would sag until the next segment lands.
    """

    name: str
    stem: str
    duration: float
    status: RunStatus = "queued"
    started: float | None = None
    position: float = 0.0
    position_at: float | None = None
    finished: float | None = None
    outputs: tuple[Path, ...] = ()
    error: str = ""
    warnings: tuple[str, ...] = ()

    def apply(self, event: JobEvent, now: float) -> str:
        """Take in a non-terminal event (the terminal ones go through succeed/fail);
        returns a warning not known before ("" for none), for the report to say now."""
        from whisper_ui.domain import InfoReady, Progress, Queued, Started

        kind: str = event.kind
        if kind == "warning":  # WarningAdded ("no speech found"), told apart by its kind
            message = str(getattr(event, "message", ""))
            if message and message not in self.warnings:
                self.warnings += (message,)
                return message
        elif isinstance(event, Started):
            self.status = "running"
            self.started = self.started if self.started is not None else now
        elif isinstance(event, Queued) and event.requeued:
            self.status = "queued"  # out of memory: it waits for a worker again
        elif isinstance(event, InfoReady) and event.info.duration > 0:
            self.duration = event.info.duration
        elif isinstance(event, Progress):
            self.position = min(event.audio_done_s, self.duration or event.audio_done_s)
            self.position_at = now
        return ""

    def succeed(self, outputs: tuple[Path, ...], now: float) -> None:
        self.status, self.outputs, self.finished = "done", outputs, now
        self.position = self.duration

    def fail(self, reason: str, now: float) -> None:
        self.status, self.error, self.finished = "failed", reason, now

    def took(self) -> float | None:
        """Wall seconds from a worker taking the file to its end."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def speed(self) -> float | None:
        """Audio seconds decoded per wall second (None until something was decoded)."""
        if self.started is None:
            return None
        if self.status == "done" and self.finished is not None:
            done, at = self.duration, self.finished
        elif self.position_at is not None:
            done, at = self.position, self.position_at
        else:
            return None
        elapsed = at - self.started
        return done / elapsed if done > 0 and elapsed > 0 else None

    def eta(self, now: float) -> float | None:
        """Seconds left at the speed so far, counting down since the last progress."""
        speed = self.speed()
        if speed is None or self.position_at is None:
            return None
        return max(0.0, (self.duration - self.position) / speed - (now - self.position_at))


@dataclass
class Batch:
    """Every file of one `transcribe` run, in the order given, keyed by job id."""

    runs: dict[str, FileRun]
    began: float

    def count(self, status: RunStatus) -> int:
        return sum(1 for r in self.runs.values() if r.status == status)

    def all_done(self) -> bool:
        return all(r.status == "done" for r in self.runs.values())

    def audio_total(self) -> float:
        """Audio to decode: every file not failed (a failed file has nothing left)."""
        return sum(r.duration for r in self.runs.values() if r.status != "failed")

    def audio_done(self) -> float:
        return sum(r.position for r in self.runs.values() if r.status in ("running", "done"))

    def speed(self) -> tuple[float, float] | None:
        """(audio seconds per wall second for the whole batch, when it was measured).

        From the first file's start to the last progress: with several workers this is
        their combined throughput, which is what the batch's ETA needs.
        """
        starts = [r.started for r in self.runs.values() if r.started is not None]
        marks = [
            t
            for r in self.runs.values()
            if r.status != "failed"
            for t in (r.position_at, r.finished)
            if t is not None
        ]
        if not starts or not marks:
            return None
        elapsed = max(marks) - min(starts)
        done = self.audio_done()
        return (done / elapsed, max(marks)) if done > 0 and elapsed > 0 else None

    def eta(self, now: float) -> float | None:
        measured = self.speed()
        if measured is None:
            return None
        speed, at = measured
        return max(0.0, (self.audio_total() - self.audio_done()) / speed - (now - at))


@dataclass(frozen=True)
class Look:
    """How this run writes its progress, decided once from stdout and the environment.

    `live`: stdout is a terminal (and --no-progress was not given), so lines are
    redrawn in place; otherwise plain lines only, safe for pipes, files and CI logs.
    `cursor`: the terminal moves the cursor (not TERM=dumb), so a block of lines can
    be redrawn; without it only one line, with a carriage return.
    `colour`: done/failed in colour, unless NO_COLOR is set or TERM is dumb.
    """

    live: bool
    cursor: bool
    colour: bool
    dot: str = "·"
    arrow: str = "→"
    cut: str = "…"

    @classmethod
    def detect(cls, stream: TextIO, *, no_progress: bool, environ: Mapping[str, str]) -> Look:
        tty = _isatty(stream)
        term = environ.get("TERM", "")
        capable = tty and term not in ("", "dumb")
        glyphs = {} if _can_encode(stream, "·→…") else {"dot": "-", "arrow": "->", "cut": "~"}
        return cls(
            live=tty and not no_progress,
            cursor=capable,
            colour=capable and not environ.get("NO_COLOR"),
            **glyphs,
        )

    def paint(self, text: str, colour: str) -> str:
        return f"{_COLOURS[colour]}{text}\x1b[0m" if self.colour else text


_COLOURS = {"green": "\x1b[32m", "red": "\x1b[31m", "yellow": "\x1b[33m"}


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _can_encode(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None)
    if encoding is None:  # an in-memory stream holds any text
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class BatchView:
    """Writes a batch's progress to stdout (errors to stderr).

    Always: a line per file that finishes (where it was written, its speed), an
    `error: NAME: REASON` line on stderr per file that fails, and the summary at the
    end; piped, also a line when a file starts. On a terminal, below those lines, a
    live block (a line per running file, and a total line) is redrawn in place: the
    block is erased before any other line is written, so lines never interleave.
    """

    def __init__(
        self,
        batch: Batch,
        look: Look,
        out: TextIO,
        err: TextIO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batch, self.look, self._out, self._err, self._clock = batch, look, out, err, clock
        names = [_printable(r.name) for r in batch.runs.values()]
        self.name_width = min(NAME_COLUMN_MAX, max(map(_width, names), default=0))
        self._drawn = 0  # lines of the live block on screen; the cursor ends the last one
        self._drawn_width = 0  # its width, for blanking it without cursor control
        self._shown = ""  # the block's text as last drawn

    def started(self, run: FileRun) -> None:
        if self.look.live:
            self.redraw()
        else:
            self._line(f"start   {self._name(run)}  {_clock(run.duration)} of audio", self._out)

    def finished(self, run: FileRun) -> None:
        self._line(done_line(run, self.look, self.name_width), self._out)

    def failed(self, run: FileRun) -> None:
        self._line(f"error: {_printable(run.name)}: {_printable(run.error)}", self._err)

    def warned(self, run: FileRun, warning: str) -> None:
        """A warning as it arrives (the file goes on): `warning: NAME: TEXT` on stderr."""
        self._line(f"warning: {_printable(run.name)}: {_printable(warning)}", self._err)

    def redraw(self) -> None:
        """Replace the live block with the state now (nothing when not on a terminal)."""
        if not self.look.live:
            return
        size = shutil.get_terminal_size()
        lines = self.live_lines(self._clock(), size.lines)
        text = "\n".join(_fit(line, size.columns - 1, self.look.cut) for line in lines)
        if self._drawn and text == self._shown:
            return  # unchanged: a slow file must not fill a terminal log with copies
        self._out.write(self._erase() + text)
        self._out.flush()
        self._shown, self._drawn = text, len(lines)
        self._drawn_width = _width(text.rpartition("\n")[2])

    def close(self) -> None:
        """Erase the live block and print the summary in its place."""
        if self.look.live:
            self._out.write(self._erase())
            self._drawn = 0
        lines = summary_lines(self.batch, self._clock(), self.look, self.name_width)
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()

    def _line(self, text: str, stream: TextIO) -> None:
        """A lasting line: the live block steps aside for it and comes back below it."""
        if self.look.live and self._drawn:
            self._out.write(self._erase())
            self._out.flush()
            self._drawn = 0
        stream.write(text + "\n")
        stream.flush()
        self.redraw()

    def _erase(self) -> str:
        """What takes the cursor back to the start of the block and blanks it."""
        if not self._drawn:
            return ""
        if not self.look.cursor:
            return "\r" + " " * self._drawn_width + "\r"
        up = f"\x1b[{self._drawn - 1}A" if self._drawn > 1 else ""
        return f"\r{up}\x1b[J"

    def live_lines(self, now: float, rows: int) -> list[str]:
        """The running files' lines and the total; one line without cursor control."""
        running = [r for r in self.batch.runs.values() if r.status == "running"]
        files = [self._running_line(r, now) for r in running]
        single = len(self.batch.runs) == 1
        if not self.look.cursor:
            return files[:1] if single and files else [self._total_line(now)]
        if single and files:
            return files
        return [*files[: max(0, rows - 2)], self._total_line(now)]

    def _running_line(self, run: FileRun, now: float) -> str:
        dot = self.look.dot
        head = f"{self._name(run)}  {_clock(run.position)}/{_clock(run.duration)}"
        speed, eta = run.speed(), run.eta(now)
        if speed is None or eta is None:
            return f"{head} {dot} starting"
        return f"{head} {dot} {_rate(speed)} {dot} ETA {_clock(eta)}"

    def _total_line(self, now: float) -> str:
        b, dot = self.batch, self.look.dot
        parts = [f"{_clock(b.audio_done())}/{_clock(b.audio_total())}"]
        parts.append(f"{b.count('done')} of {len(b.runs)} done")
        parts += [f"{b.count(s)} {s}" for s in ("running", "queued", "failed") if b.count(s)]
        measured, eta = b.speed(), b.eta(now)
        if measured is not None:
            parts.append(_rate(measured[0]))
        if eta is not None and b.audio_total() > b.audio_done():
            parts.append(f"ETA {_clock(eta)}")
        return f"{_pad('Total', self.name_width)}  " + f" {dot} ".join(parts)

    def _name(self, run: FileRun) -> str:
        return _pad(_printable(run.name), self.name_width)


def done_line(run: FileRun, look: Look, name_width: int) -> str:
    """`done    talk.mp3  5:00 in 25.0 s · 12x → out/talk.txt, out/talk.srt`, and the
    job's warnings in brackets ("no speech found"): the file was written, but say so."""
    took, speed = run.took(), run.speed()
    timing = _clock(run.duration)
    if took is not None:
        timing += f" in {_took(took)}"
    if speed is not None:
        timing += f" {look.dot} {_rate(speed)}"
    written = ", ".join(_printable(str(p)) for p in run.outputs)
    if run.warnings:
        written += f" ({'; '.join(_printable(w) for w in run.warnings)})"
    name = _pad(_printable(run.name), name_width)
    label = look.paint("warn", "yellow") if run.warnings else look.paint("done", "green")
    return f"{label}    {name}  {timing} {look.arrow} {written}"


def summary_lines(batch: Batch, now: float, look: Look, name_width: int) -> list[str]:
    """Each file (written where, or why not) and the totals: wall time, audio, speed."""
    lines = ["", "Summary:"]
    for run in batch.runs.values():
        name = _pad(_printable(run.name), name_width)
        if run.status == "done":
            lines.append("  " + done_line(run, look, name_width))
        elif run.status == "failed":
            lines.append(f"  {look.paint('failed', 'red')}  {name}  {_printable(run.error)}")
        else:
            lines.append(f"  stopped {name}  not finished")
    done, failed = batch.count("done"), batch.count("failed")
    unfinished = len(batch.runs) - done - failed
    counts = f"{done} of {_files(len(batch.runs))} written"
    warned = sum(1 for r in batch.runs.values() if r.status == "done" and r.warnings)
    counts += f" ({warned} with a warning)" if warned else ""
    counts += f", {failed} failed" if failed else ""
    counts += f", {unfinished} not finished" if unfinished else ""
    wall = now - batch.began
    audio = sum(r.duration for r in batch.runs.values() if r.status == "done")
    timing = f"{_clock(audio)} of audio in {_took(wall)}"
    if audio > 0 and wall > 0:
        timing += f" {look.dot} {_rate(audio / wall)}"
    lines.append(f"{counts} {look.dot} {timing}")
    return lines


# ---- text helpers ------------------------------------------------------------


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def _clock(seconds: float) -> str:
    """Audio positions and durations: 0:29, 5:00, 1:02:03."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _took(seconds: float) -> str:
    """Wall time: tenths below a minute (a short file takes about a second), else a clock."""
    return f"{seconds:.1f} s" if seconds < 59.95 else _clock(seconds)


def _rate(speed: float) -> str:
    """Audio seconds per wall second: 12x, 4.7x."""
    return f"{speed:.0f}x" if speed >= 9.95 else f"{speed:.1f}x"


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text: str) -> str:
    """Control characters (a newline or an escape in a file name) and bidi overrides
    would break or spoof the terminal's lines: each shows as "?"."""
    return "".join(
        "?" if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c for c in text
    )


def _width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters two, combining ones none."""
    return sum(_char_width(c) for c in text)


def _char_width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _fit(text: str, columns: int, cut: str) -> str:
    """`text` cut to `columns` (ending in `cut`): a live line that wrapped would break
    the count of lines to move back over."""
    if _width(text) <= columns:
        return text
    kept, used = [], _width(cut)
    for c in text:
        used += _char_width(c)
        if used > columns:
            break
        kept.append(c)
    return "".join(kept) + cut if columns >= _width(cut) else ""


def cmd_devices(args: argparse.Namespace) -> int:
    settings = _settings(args, cluster=getattr(args, "cluster", None))
    _offline_unless_hub(settings.model)
    if settings.cluster:
        return _cluster_devices(settings)
    from whisper_ui.services import build_services

    services = build_services(settings)
    if args.calibrate and not _calibrate(services):
        return 2
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
        runner = services.runner
        batched = runner is not None and runner.batches_on(p.device.kind, settings.model)
        batching = f"batches of up to {settings.max_batch_size}" if batched else "unbatched"
        print(
            f"  {p.device.id:<7} {p.workers} worker(s){threads}, {p.compute_type}, "
            f"~{_gib(p.est_bytes)} (limited by {p.limited_by}), {batching} "
            f"(batch: {settings.batch})"
        )
    for note in plan.notes:
        print(f"  note: {note}")
    print(f"  total: {_files(plan.total_workers)} at once")
    if any(p.device.kind == "cpu" for p in plan.placements):
        _show_calibration(services)
    if args.check:
        return _check_gpus(services, plan)
    return 0


def _check_gpus(services: Services, plan: PoolPlan) -> int:
    """`devices --check`: the model loaded with one worker on each GPU of the plan, and
    one window encoded there (engine/loader.check_cuda); 1 if any GPU cannot run it."""
    from whisper_ui.engine.errors import DeviceUnusable
    from whisper_ui.engine.loader import WhisperLoader

    gpus = [p for p in plan.placements if p.device.kind == "cuda"]
    if not gpus:
        print("\nCheck: no GPU in the plan, nothing to check")
        return 0
    loader = WhisperLoader(services.catalog)
    failed = 0
    print()
    for placement in gpus:
        one = dataclasses.replace(placement, workers=1)
        started = time.monotonic()
        try:
            model = loader.load(services.settings.model, one)
        except DeviceUnusable as exc:
            failed += 1
            print(f"Check: {exc}")
            print(
                '  jobs would run on the other devices; README "GPUs" says what to install '
                "(PyPI's CTranslate2 needs cuBLAS for CUDA 12)"
            )
            continue
        loader.unload(model)
        print(
            f"Check: {placement.device.id} computes: {services.settings.model} loaded and "
            f"30 s encoded in {time.monotonic() - started:.1f} s"
        )
    return 1 if failed else 0


def _calibrate(services: Services) -> bool:
    """`devices --calibrate`: time the modes, printing each; False (and why) if not."""
    from whisper_ui.engine.calibrate import CalibrationError
    from whisper_ui.services import calibration_blocked

    blocked = calibration_blocked(services.settings)
    if blocked:
        print(f"error: not calibrating: {blocked}; the settings plan the pool", file=sys.stderr)
        return False
    key = services.calibration_key()
    print(f"Calibrating {key.text} (beam {services.settings.beam_size}):", flush=True)
    try:
        cal = services.calibrate(
            progress=lambda m: print(
                f"  {m.mode.label:<32} {m.seconds_per_chunk:6.3f} s/chunk", flush=True
            )
        )
    except CalibrationError as exc:
        print(f"error: calibration failed: {exc}; the rule plans the pool", file=sys.stderr)
        return False
    print(f"  {cal.chunks} chunks each, {cal.seconds:.0f} s in all; cached\n")
    if cal.load_before > 0.5 * key.cores:
        print(
            f"warning: the load average was {cal.load_before:.1f} on {key.cores} cores; "
            "other work skews the modes, so calibrate again when the machine is idle\n",
            file=sys.stderr,
        )
    return True


def _show_calibration(services: Services) -> None:
    """What the CPU plan rests on: the measured numbers, or why the rule plans."""
    from whisper_ui.services import calibration_blocked

    blocked = calibration_blocked(services.settings)
    if blocked or services.calibrations is None:
        print(f"\nCalibration: not used, {blocked}")
        return
    key = services.calibration_key()
    cal = services.calibrations.get(key.model, key.compute_type)
    choice = services.calibrations.choice(key.model, key.compute_type)
    if cal is None or choice is None:
        print(
            "\nCalibration: none yet for this CPU and model; the plan above is the rule's "
            "(one worker per core). `whisper-ui devices --calibrate` measures it "
            "(serve does once, in the background)."
        )
        return
    print(
        f"\nCalibration ({cal.measured_at}, {cal.chunks} chunks each, beam {cal.beam_size}, "
        f"load average before {cal.load_before:.1f}):"
    )
    base = cal.measurements[0].seconds_per_chunk
    for m in cal.measurements:
        mark = "  <- used" if m == choice.measurement else ""
        print(
            f"  {m.mode.label:<32} {m.seconds_per_chunk:6.3f} s/chunk "
            f"{base / m.seconds_per_chunk:5.2f}x{mark}"
        )
    cores = key.cores
    print(
        f"  plan: {choice.jobs} job(s) at once ({choice.jobs / cores:g} per core), "
        f"{choice.threads} thread(s) each, {'batched' if choice.batch else 'unbatched'}"
        f" ({choice.reason})"
    )


def _cluster_devices(settings: Settings) -> int:
    """`devices --cluster`: every node's devices and plan, as its own agent makes it."""
    import asyncio

    from whisper_ui.cluster.pool import describe_cluster

    nodes = asyncio.run(describe_cluster(settings.cluster or "", settings))
    print(f"Cluster {settings.cluster}: {len(nodes)} node(s), model '{settings.model}'")
    for node in nodes:
        print(f"\n{node['name']} ({node['cpus']:g} CPUs for Ray): {node['slots']} slot(s)")
        for d in node["devices"]:
            print(f"  {d['id']:<7} {d['name']}: {_gib(d['free_bytes'])} free of "
                  f"{_gib(d['total_bytes'])}")  # fmt: skip
        pool = node["pool"]
        for p in pool.get("plan", []):
            threads = f" x {p['cpu_threads']} threads" if p["device"] == "cpu" else ""
            print(f"  plan: {p['device']:<7} {p['workers']} worker(s){threads}, "
                  f"{p['compute_type']} (limited by {p['limited_by']})")  # fmt: skip
        for note in pool.get("plan_notes", []):
            print(f"  note: {note}")
        for model, error in node["failed_models"].items():
            print(f"  failed: {model}: {error}")
    total = sum(n["slots"] for n in nodes)
    print(f"\ntotal: {_files(total)} at once")
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
        cluster=args.cluster,
    )
    _offline_unless_hub(settings.model)
    if settings.cluster:  # fail now, naming the address, not inside uvicorn's start-up
        from whisper_ui.cluster.connect import check_reachable

        check_reachable(settings.cluster)
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
    except BrokenPipeError:
        # The reader went away (`whisper-ui transcribe … | head`): stop quietly, and keep
        # Python's flush at exit from raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # settings and model errors: one clear line, no traceback
        from pydantic import ValidationError

        from whisper_ui.auth import AuthConfigError
        from whisper_ui.cluster.connect import ClusterError  # no Ray import

        if isinstance(exc, ValidationError | FileNotFoundError | AuthConfigError | ClusterError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
