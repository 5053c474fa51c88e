"""Reading the page's outputs as `gradio_client` gets them (ui/app.py's view outputs).

The file list and the transcript are `gr.HTML` components updated through their props
(`cards`, `body`); these helpers turn that HTML back into rows and text, so tests read
what a person sees, not the markup.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

# Outputs of /transcribe (which adds the emptied file box), /act and /watch, in order.
STATUS, QUEUE, TRANSCRIPT, DOWNLOADS, ZIP = range(5)

_CARD = re.compile(
    r'<li class="card (?P<kind>\w+)(?P<sel> selected)?" data-job="(?P<id>[^"]+)"'
    r' data-name="(?P<name>[^"]*)"(?P<rest>.*?)</li>',
    re.S,
)
_CHIP = re.compile(r'<span class="chip \w+">([^<]*)</span>')
_REASON = re.compile(r'<div class="reason">([^<]*)</div>')
_ACTION = re.compile(r'data-action="([\w-]+)"')
_TAG = re.compile(r"<[^>]+>")


def value_of(output: Any) -> Any:
    """A component's value, whether it came back plain or as an update dict."""
    return output.get("value") if isinstance(output, dict) else output


def prop(output: Any, name: str) -> str:
    """A gr.HTML prop from an update (the props carry the value the page renders)."""
    if isinstance(output, dict):
        props = output.get("props")
        if isinstance(props, dict) and name in props:
            return str(props[name])
    return ""


def cards(update: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Each file card: name, id, kind (colour), status text, selected, actions offered."""
    found = []
    for match in _CARD.finditer(prop(update[QUEUE], "cards")):
        rest = match.group("rest")
        chip = _CHIP.search(rest)
        reason = _REASON.search(rest)
        status = html.unescape(chip.group(1)) if chip else ""
        if reason:
            status += ": " + html.unescape(reason.group(1))
        found.append(
            {
                "name": html.unescape(match.group("name")),
                "id": match.group("id"),
                "kind": match.group("kind"),
                "status": status,
                "selected": bool(match.group("sel")),
                "actions": _ACTION.findall(rest),
            }
        )
    return found


def rows(update: tuple[Any, ...]) -> list[list[str]]:
    """[name, status] per card, in the list's order."""
    return [[c["name"], c["status"]] for c in cards(update)]


def status_of(update: tuple[Any, ...], name: str) -> str:
    found = [c["status"] for c in cards(update) if c["name"] == name]
    assert found, f"{name} is not in the list: {rows(update)}"
    return str(found[-1])


def job_ids(update: tuple[Any, ...]) -> dict[str, str]:
    """File name -> job id (of the last card with that name)."""
    return {c["name"]: c["id"] for c in cards(update)}


def selected(update: tuple[Any, ...]) -> str | None:
    return next((c["id"] for c in cards(update) if c["selected"]), None)


def transcript(update: tuple[Any, ...]) -> str:
    """The open file's transcript as text: one "mm:ss.s words" line per segment."""
    body = prop(update[TRANSCRIPT], "body")
    lines = re.findall(r'<p class="seg[^"]*"[^>]*>(.*?)</p>', body, re.S)
    return "\n".join(html.unescape(_TAG.sub(" ", line)).strip() for line in lines)


def transcript_note(update: tuple[Any, ...]) -> str:
    """The line above the transcript (why it failed, that it was cancelled, …)."""
    found = re.search(r'<p class="note[^"]*">(.*?)</p>', prop(update[TRANSCRIPT], "body"), re.S)
    return html.unescape(found.group(1)) if found else ""


def action(job_id: str, verb: str) -> str:
    """The value the file list sends for a click (QUEUE_JS)."""
    return json.dumps({"job": job_id, "action": verb})


def shown(status: Any) -> str:
    """The status Markdown as the page renders it: backslash escapes and entities undone."""
    return html.unescape(re.sub(r"\\(.)", r"\1", str(value_of(status))))
