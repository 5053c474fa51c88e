"""The exporter contract and the helpers that more than one format shares.

Timestamps, line cleanup and the cue loop live here once, so that SRT and
WebVTT differ only in what really differs: the decimal marker, the header,
cue numbers and markup escaping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol, runtime_checkable

from whisper_ui.domain import Transcript

__all__ = [
    "Cue",
    "Exporter",
    "clean_cue_text",
    "escape_vtt",
    "format_timestamp",
    "iter_cues",
    "render_cues",
    "single_line",
    "to_milliseconds",
]


@runtime_checkable
class Exporter(Protocol):
    """One output format: a pure `render` plus what a download or file needs."""

    name: str
    extension: str
    media_type: str

    def render(self, transcript: Transcript) -> str:
        """Return the whole file as text; never touches the disk."""
        ...


def to_milliseconds(seconds: float) -> int:
    """Whole milliseconds, rounded half up as the number is written.

    Going through the shortest decimal repr avoids float artefacts
    (1.0005 * 1000 is 1000.4999...), and rounding to an integer first means
    a carry can never produce ",1000". Negative times clamp to 0.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"timestamp must be a finite number of seconds, got {seconds!r}")
    if seconds <= 0:
        return 0
    exact = Decimal(repr(float(seconds))).scaleb(3)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_timestamp(
    seconds: float, *, decimal_marker: str = ".", always_include_hours: bool = True
) -> str:
    """`HH:MM:SS<marker>mmm`; hours grow past two digits instead of wrapping."""
    total_ms = to_milliseconds(seconds)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    hours_part = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_part}{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def single_line(text: str) -> str:
    """Strip and join the text's lines with single spaces (no empty lines kept).

    `str.splitlines` also splits on \\r, \\v, \\f and U+2028, which players
    treat as line breaks too.
    """
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def clean_cue_text(text: str) -> str:
    """Cue text that cannot break a subtitle file.

    A blank line ends a cue and "-->" marks a timing line, so neither may
    appear. The replacement repeats because "--->" becomes "-->" after one
    pass.
    """
    line = single_line(text)
    while "-->" in line:
        line = line.replace("-->", "->")
    return line


def escape_vtt(text: str) -> str:
    """Escape the characters that are markup in WebVTT cue text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: contiguous 1-based index, times, cleaned text."""

    index: int
    start: float
    end: float
    text: str
    speaker: str | None = None


def iter_cues(transcript: Transcript) -> Iterator[Cue]:
    """Cues for the segments that have text, numbered without gaps.

    The end is never before the start, so every timing line is well formed
    even if a decoder hands back a reversed segment.
    """
    index = 0
    for segment in transcript.segments:
        text = clean_cue_text(segment.text)
        if not text:
            continue
        index += 1
        yield Cue(index, segment.start, max(segment.start, segment.end), text, segment.speaker)


def render_cues(
    transcript: Transcript,
    *,
    decimal_marker: str,
    header: str = "",
    numbered: bool = True,
    escape: Callable[[str], str] | None = None,
    label: Callable[[str, str], str] = lambda speaker, text: f"[{speaker}] {text}",
) -> str:
    """The shared SRT/WebVTT body: cue blocks separated by one blank line; a cue of a
    known speaker is labelled by `label(speaker, escaped text)`."""
    blocks: list[str] = []
    for cue in iter_cues(transcript):
        start = format_timestamp(cue.start, decimal_marker=decimal_marker)
        end = format_timestamp(cue.end, decimal_marker=decimal_marker)
        text = escape(cue.text) if escape is not None else cue.text
        if cue.speaker is not None:
            speaker = single_line(cue.speaker)
            text = label(escape(speaker) if escape is not None else speaker, text)
        number = f"{cue.index}\n" if numbered else ""
        blocks.append(f"{number}{start} --> {end}\n{text}\n")
    return header + "\n".join(blocks)
