"""The page's options, remembered per browser and summed up in one line.

The option controls and the export formats are saved as plain JSON in the browser's
localStorage by a few lines of JavaScript that run on the person's own input, and read
back by the page's load event, so a reload or a restart of the server keeps what the
person chose. Saving in the browser, not through a server round trip, is what keeps
two quick changes in the order they were made (docs/gradio.md says what went wrong
with `gr.BrowserState`). What comes back from a browser is untrusted: each value is
parsed by its option's declaration again, and a value that no longer fits (a model
that is not installed any more) is dropped, leaving the default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from whisper_ui.export import FORMATS
from whisper_ui.languages import language_label
from whisper_ui.options import OptionsError
from whisper_ui.ui.controls import Control

STORAGE_KEY = "whisper-ui.options"
FORMATS_KEY = "formats"
MAX_STORED = 16_000  # characters; ours are a few hundred


def save_js(names: Sequence[str]) -> str:
    """The browser-side save, for an `input` listener whose inputs are the controls
    then the formats (`names`, in that order): one JSON object under STORAGE_KEY."""
    return (
        "(...values) => { const kept = {};"
        f" {json.dumps(list(names))}.forEach((name, i) => {{ kept[name] = values[i]; }});"
        f" try {{ localStorage.setItem({json.dumps(STORAGE_KEY)}, JSON.stringify(kept)); }}"
        " catch (e) {} return []; }"
    )


def load_js() -> str:
    """The load event's `js`: its one input (a hidden text box) becomes what the browser
    kept (Gradio passes the outputs' values after it; they are not sent)."""
    return (
        "(...values) => { let kept = null;"
        f" try {{ kept = localStorage.getItem({json.dumps(STORAGE_KEY)}); }} catch (e) {{}}"
        " return [kept]; }"
    )


def parse_stored(raw: Any) -> dict[str, Any]:
    """What the page read from localStorage, as a dict: nothing saved, a value written
    by something else or one too long to be ours is `{}`."""
    if not isinstance(raw, str) or len(raw) > MAX_STORED:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def snapshot(controls: Sequence[Control], values: Sequence[Any]) -> dict[str, Any]:
    """The controls' values and the formats (last), as saved in the browser."""
    *options, formats = values
    saved = {c.option.name: v for c, v in zip(controls, options, strict=True)}
    saved[FORMATS_KEY] = [f for f in FORMATS if f in (formats or [])]
    return saved


def restored(
    controls: Sequence[Control],
    saved: Any,
    allowed: Mapping[str, Sequence[str]],
) -> list[Any]:
    """One value per control, then the formats, from what the browser kept; `None`
    for "keep the page's default" (the caller turns it into no update)."""
    kept: Mapping[str, Any] = saved if isinstance(saved, Mapping) else {}
    values: list[Any] = []
    for control in controls:
        raw = kept.get(control.option.name)
        if raw is None:
            values.append(None)
            continue
        try:
            control.value(raw)
        except (OptionsError, TypeError, ValueError):
            values.append(None)
            continue
        choices = allowed.get(control.option.name)
        values.append(raw if choices is None or raw in choices else None)
    formats = kept.get(FORMATS_KEY)
    if isinstance(formats, list) and formats and all(f in FORMATS for f in formats):
        values.append([f for f in FORMATS if f in formats])
    else:
        values.append(None)
    return values


def summary(saved: Mapping[str, Any]) -> str:
    """The closed Options accordion's label: "Options · tiny.en · auto · txt, srt"."""
    parts = [str(saved.get("model") or "")]
    language = saved.get("language")
    parts.append("auto" if language in (None, "", "auto") else language_label(str(language)))
    if saved.get("task") == "translate":
        parts.append("translate to English")
    speakers = str(saved.get("speakers") or "off")
    if speakers != "off":
        parts.append("speakers" if speakers == "auto" else f"{speakers} speakers")
    formats = saved.get(FORMATS_KEY) or []
    parts.append(", ".join(formats) if formats else "no formats")
    return "Options · " + " · ".join(p for p in parts if p)
