"""Transcript exporters: txt, srt, vtt, json and tsv, looked up by name.

Rendering is pure (a Transcript in, a str out) so the UI can serve a
download from memory and tests can compare against golden files; writing
to disk lives apart in `whisper_ui.export.files`.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from whisper_ui.domain import Transcript
from whisper_ui.export.base import Exporter
from whisper_ui.export.json_format import JsonExporter
from whisper_ui.export.srt import SrtExporter
from whisper_ui.export.tsv import TsvExporter
from whisper_ui.export.txt import TxtExporter
from whisper_ui.export.vtt import VttExporter

__all__ = ["FORMATS", "Exporter", "get_exporter", "parse_formats", "render"]

FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json", "tsv")

_EXPORTERS: MappingProxyType[str, Exporter] = MappingProxyType(
    {
        e.name: e
        for e in (TxtExporter(), SrtExporter(), VttExporter(), JsonExporter(), TsvExporter())
    }
)
if tuple(_EXPORTERS) != FORMATS:  # pragma: no cover - guards against editing one list only
    raise RuntimeError("FORMATS and the exporter registry must list the same formats")

_ALL = "all"
_SEPARATORS = re.compile(r"[,\s]+")


def _choices() -> str:
    return ", ".join(FORMATS)


def get_exporter(name: str) -> Exporter:
    """The exporter for `name` (case and surrounding spaces ignored)."""
    key = name.strip().lower()
    try:
        return _EXPORTERS[key]
    except KeyError:
        raise ValueError(f"unknown export format {name!r}; choose from {_choices()}") from None


def render(transcript: Transcript, fmt: str) -> str:
    """Render `transcript` in format `fmt`; a shortcut for get_exporter(fmt).render."""
    return get_exporter(fmt).render(transcript)


def parse_formats(spec: str) -> tuple[str, ...]:
    """Turn a user's "txt, SRT,srt" or "all" into ("txt", "srt"), in first-seen order.

    Commas and whitespace both separate names; "all" stands for every format.
    Every unknown name is reported at once, so a typo costs one retry.
    """
    names = [n.lower() for n in _SEPARATORS.split(spec) if n]
    if not names:
        raise ValueError(f"no export format given; choose from {_choices()} or {_ALL!r}")
    unknown = list(dict.fromkeys(n for n in names if n != _ALL and n not in _EXPORTERS))
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        noun = "format" if len(unknown) == 1 else "formats"
        raise ValueError(f"unknown export {noun} {listed}; choose from {_choices()} or {_ALL!r}")
    expanded: list[str] = []
    for n in names:
        expanded.extend(FORMATS if n == _ALL else (n,))
    return tuple(dict.fromkeys(expanded))
