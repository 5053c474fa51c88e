"""Speakers on the page: the option's choices, its disabled state, colours and summary.

Each speaker gets one of SPEAKER_COLOURS by order of first speech, the same in the
transcript (a coloured bar and a name where the speaker changes) and in the summary
over it (who spoke and for how long). A finished file's names are buttons that rename
the speaker once for the whole file (jobs/edits.Edits.rename_speaker).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from whisper_ui.domain import Segment
from whisper_ui.engine import diarize
from whisper_ui.engine.speakers import INSTALL
from whisper_ui.options import MAX_SPEAKERS
from whisper_ui.ui.view import clock

SPEAKER_COLOURS = 8  # .spk-0 ... .spk-7 in SPEAKERS_CSS


def speaker_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the Speakers dropdown."""
    counts = [
        (f"{n} {'person' if n == 1 else 'people'}", str(n)) for n in range(1, MAX_SPEAKERS + 1)
    ]
    return [("Off", "off"), ("Count the voices", "auto"), *counts]


def speakers_disabled() -> dict[str, str]:
    """The Speakers control greyed out, with the one command that installs it, when the
    speakers extra is missing."""
    if diarize.available():
        return {}
    return {"speakers": f"Needs the speakers extra: {INSTALL}"}


def speaker_order(segments: Sequence[Segment]) -> dict[str, int]:
    """Speaker -> colour index, in order of first speech."""
    order: dict[str, int] = {}
    for s in segments:
        if s.speaker is not None and s.speaker not in order and s.text.strip():
            order[s.speaker] = len(order) % SPEAKER_COLOURS
    return order


def name_button(name: str, colour: int, *, renamable: bool) -> str:
    shown = html.escape(name)
    if not renamable:
        return f'<span class="who spk-{colour}">{shown}</span>'
    return (
        f'<button type="button" class="who spk-{colour}" data-action="rename" '
        f'data-speaker="{html.escape(name, quote=True)}" title="Rename {shown} in the whole file">'
        f"{shown}</button>"
    )


def summary_html(segments: Sequence[Segment], *, renamable: bool) -> str:
    """Who spoke and for how long ("" without speakers)."""
    talk: dict[str, float] = {}
    for s in segments:
        if s.speaker is not None and s.text.strip():
            talk[s.speaker] = talk.get(s.speaker, 0.0) + max(0.0, s.end - s.start)
    if not talk:
        return ""
    order = speaker_order(segments)
    total = sum(talk.values()) or 1.0
    items = "".join(
        f"<li>{name_button(name, order[name], renamable=renamable)}"
        f'<span class="talk">{clock(t)} · {round(100 * t / total)} %</span></li>'
        for name, t in talk.items()
    )
    count = len(talk)
    heading = f"{count} {'speaker' if count == 1 else 'speakers'}"
    return f'<div class="speakers"><span class="count">{heading}</span><ul>{items}</ul></div>'


SPEAKERS_CSS = """
.speakers { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center;
  margin: 0 0 8px; font-size: 0.9em; }
.speakers ul { display: flex; flex-wrap: wrap; gap: 6px 12px; list-style: none;
  margin: 0; padding: 0; }
.speakers li { display: flex; gap: 6px; align-items: baseline; }
.speakers .count, .speakers .talk { color: var(--body-text-color-subdued); }
.who { font-weight: 600; border: 0; background: none; padding: 0; font: inherit;
  font-weight: 600; color: color-mix(in srgb, var(--spk) 65%, var(--body-text-color)); }
button.who { cursor: pointer; text-decoration: underline dotted; text-underline-offset: 3px; }
.who-line { margin: 10px 0 2px; }
.seg[class*="spk-"] { border-left: 3px solid var(--spk); padding-left: 8px; }
/* mid tones, mixed toward the text colour for names: legible in light and dark */
.spk-0 { --spk: #3b82f6; } .spk-1 { --spk: #c2410c; } .spk-2 { --spk: #15803d; }
.spk-3 { --spk: #9333ea; } .spk-4 { --spk: #be123c; } .spk-5 { --spk: #0e7490; }
.spk-6 { --spk: #a16207; } .spk-7 { --spk: #4d7c0f; }
"""
