"""The batch report of `whisper-ui transcribe`, without the model: how it decides to
draw (terminal or not, NO_COLOR, TERM=dumb), and what its lines say for real domain
events at known times. The subprocess tests (tests/integration/test_cli.py) run it
for real; these pin the arithmetic and the exact wording."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import pytest

from whisper_ui.cli import (
    Batch,
    BatchView,
    FileRun,
    Look,
    _clock,
    _fit,
    _printable,
    _rate,
    _width,
    done_line,
)
from whisper_ui.domain import Progress, Started


@contextmanager
def terminal(encoding: str = "utf-8") -> Iterator[TextIO]:
    """A real terminal stream: the slave end of a pseudo-terminal."""
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding=encoding, closefd=True) as stream:
            yield stream
    finally:
        os.close(master)


def test_a_pipe_gets_plain_lines() -> None:
    look = Look.detect(io.StringIO(), no_progress=False, environ={"TERM": "xterm"})
    assert not look.live and not look.cursor and not look.colour


def test_a_terminal_gets_live_lines_in_colour() -> None:
    with terminal() as tty:
        look = Look.detect(tty, no_progress=False, environ={"TERM": "xterm"})
    assert look.live and look.cursor and look.colour and look.dot == "·"


@pytest.mark.parametrize(
    ("environ", "no_progress", "live", "cursor", "colour"),
    [
        ({"TERM": "xterm", "NO_COLOR": "1"}, False, True, True, False),
        ({"TERM": "xterm", "NO_COLOR": ""}, False, True, True, True),  # empty: not set
        ({"TERM": "dumb"}, False, True, False, False),
        ({}, False, True, False, False),  # no TERM: do not guess at escapes
        ({"TERM": "xterm"}, True, False, True, True),  # --no-progress
    ],
)
def test_the_environment_tones_a_terminal_down(
    environ: dict[str, str], no_progress: bool, live: bool, cursor: bool, colour: bool
) -> None:
    with terminal() as tty:
        look = Look.detect(tty, no_progress=no_progress, environ=environ)
    assert (look.live, look.cursor, look.colour) == (live, cursor, colour)


def test_a_terminal_that_cannot_encode_the_glyphs_gets_ascii() -> None:
    with terminal(encoding="ascii") as tty:
        look = Look.detect(tty, no_progress=False, environ={"TERM": "xterm"})
    assert (look.dot, look.arrow, look.cut) == ("-", "->", "~")


def test_clock_and_rate() -> None:
    assert [_clock(s) for s in (0, 9.833, 29.4, 300, 3723)] == [
        "0:00",
        "0:10",
        "0:29",
        "5:00",
        "1:02:03",
    ]
    assert [_rate(s) for s in (0.55, 4.66, 9.96, 12.3)] == ["0.6x", "4.7x", "10x", "12x"]


def test_speed_and_eta_are_taken_at_the_last_progress_and_count_down() -> None:
    run = FileRun("talk.mp3", "talk", 300.0)
    run.apply(Started("j", "cpu:0", "tiny.en"), now=10.0)
    assert run.speed() is None and run.eta(10.5) is None  # nothing decoded yet
    run.apply(Progress("j", 29 / 300, 29.0), now=12.5)
    assert run.speed() == pytest.approx(11.6)
    assert run.eta(12.5) == pytest.approx(271 / 11.6)
    assert run.eta(13.5) == pytest.approx(271 / 11.6 - 1)  # no new segment yet
    assert run.eta(1000.0) == 0.0


def test_names_cannot_break_the_lines() -> None:
    assert _printable("a\nb\x1b[2Jc\u202ed.wav") == "a?b?[2Jc?d.wav"
    wide = "会議の録音" * 4 + ".mp3"
    assert _width(wide) == 44
    for columns in (1, 5, 20, 43):
        assert _width(_fit(wide, columns, "…")) <= columns
    assert _fit("short", 10, "…") == "short"


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_piped_report_of_a_batch() -> None:
    clock, out, err = Clock(), io.StringIO(), io.StringIO()
    good = FileRun("talk.mp3", "talk", 300.0)
    bad = FileRun("notes.mp3", "notes", 0.0)
    batch = Batch({"a": good, "b": bad}, began=0.0)
    look = Look.detect(out, no_progress=False, environ={})
    view = BatchView(batch, look, out, err, clock=clock)

    bad.fail("not a recognised audio or video file", now=0.5)
    view.failed(bad)
    good.apply(Started("a", "cpu:0", "tiny.en"), now=1.0)
    view.started(good)
    good.apply(Progress("a", 0.5, 150.0), now=11.0)
    view.redraw()  # nothing: not a terminal
    good.succeed((Path("out/talk.txt"), Path("out/talk.srt")), now=21.0)
    view.finished(good)
    clock.now = 22.0
    view.close()

    assert err.getvalue() == "error: notes.mp3: not a recognised audio or video file\n"
    assert out.getvalue().splitlines() == [
        "start   talk.mp3   5:00 of audio",
        "done    talk.mp3   5:00 in 20.0 s · 15x → out/talk.txt, out/talk.srt",
        "",
        "Summary:",
        "  done    talk.mp3   5:00 in 20.0 s · 15x → out/talk.txt, out/talk.srt",
        "  failed  notes.mp3  not a recognised audio or video file",
        "1 of 2 files written, 1 failed · 5:00 of audio in 22.0 s · 14x",
    ]


def test_live_lines_on_a_terminal() -> None:
    clock = Clock()
    a, b = FileRun("talk.mp3", "talk", 300.0), FileRun("interview.m4a", "interview", 600.0)
    batch = Batch({"a": a, "b": b}, began=0.0)
    look = Look(live=True, cursor=True, colour=False)
    view = BatchView(batch, look, io.StringIO(), io.StringIO(), clock=clock)
    a.apply(Started("a", "cpu:0", "tiny.en"), now=1.0)
    a.apply(Progress("a", 29 / 300, 29.0), now=3.5)
    clock.now = 3.5
    assert view.live_lines(clock.now, rows=24) == [
        "talk.mp3       0:29/5:00 · 12x · ETA 0:23",
        "Total          0:29/15:00 · 0 of 2 done · 1 running · 1 queued · 12x · ETA 1:15",
    ]


def test_a_warning_is_said_when_it_comes_with_the_written_file_and_in_the_summary() -> None:
    from whisper_ui.domain import NO_SPEECH, WarningAdded

    run = FileRun("silence.wav", "silence", 5.0)
    other = FileRun("talk.mp3", "talk", 5.0)
    batch = Batch({"j": run, "k": other}, began=0.0)
    look = Look(live=False, cursor=False, colour=False)
    out, err = io.StringIO(), io.StringIO()
    view = BatchView(batch, look, out, err, clock=Clock())
    run.apply(Started("j", "cpu:0", "tiny.en"), now=0.0)
    for _ in range(2):  # said once, however often it comes
        if warned := run.apply(WarningAdded("j", NO_SPEECH), now=0.5):
            view.warned(run, warned)
    assert err.getvalue() == "warning: silence.wav: no speech found\n"
    run.succeed((Path("out/silence.txt"),), now=1.0)
    other.succeed((Path("out/talk.txt"),), now=1.0)
    line = done_line(run, look, name_width=12)
    assert line == "warn    silence.wav   0:05 in 1.0 s · 5.0x → out/silence.txt (no speech found)"
    assert done_line(other, look, name_width=12).startswith("done    talk.mp3")
    summary = view_summary(view)
    assert summary[-1].startswith("2 of 2 files written (1 with a warning) · ")


def view_summary(view: BatchView) -> list[str]:
    from whisper_ui.cli import summary_lines

    return summary_lines(view.batch, 1.0, view.look, view.name_width)
