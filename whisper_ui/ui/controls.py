"""The option controls of the page, one per option the UI exposes, from the declaration.

`whisper_ui/options.py` says what each option is; this module only chooses the Gradio
component that fits its type: a dropdown where the values come from elsewhere (models,
languages), a radio for a few choices, a checkbox for a boolean, a slider for a bounded
integer, a number or a text box otherwise. Order on the page is declaration order,
which is also the positional order of the `/transcribe` API after the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from whisper_ui.options import OPTIONS, Option, OptionSet, TranscribeOptions


@dataclass(frozen=True)
class Control:
    """One option and the component that edits it."""

    option: Option
    component: Any

    def value(self, raw: Any) -> Any:
        """What the component sent, as the option's typed value (OptionsError if bad)."""
        if self.option.base_type is tuple and isinstance(raw, str):
            raw = [part for part in raw.replace(",", " ").split() if part]
        return self.option.parse(raw)


def _shown(option: Option, value: Any) -> Any:
    if value is None:
        return option.meta.none_word or ""
    if isinstance(value, tuple):
        return ", ".join(f"{v:g}" for v in value)
    return value


def build_controls(
    defaults: TranscribeOptions,
    choices: Mapping[str, Sequence[str | tuple[str, str]]],
    options: OptionSet = OPTIONS,
    disabled: Mapping[str, str] | None = None,
) -> list[Control]:
    """Components for every UI option, inside the current Blocks context.

    `choices` gives the values of options whose allowed values are known at run time
    (the models that are available here, the model's languages), as values or as
    (label, value) pairs. `disabled` maps an option that cannot work here to the
    line that says why (the speakers extra not installed): shown, greyed out.
    """
    disabled = disabled or {}
    controls: list[Control] = []
    for opt in options.on("ui"):
        value = _shown(opt, getattr(defaults, opt.name))
        common: dict[str, Any] = {"label": opt.label, "info": None, "elem_id": f"opt-{opt.name}"}
        if opt.name in disabled:
            common.update(interactive=False, info=disabled[opt.name])
        if opt.name in choices:
            values: list[Any] = list(choices[opt.name])
            known = {v[1] if isinstance(v, tuple) else v for v in values}
            if opt.meta.none_word and opt.meta.none_word not in known:
                values.insert(0, opt.meta.none_word)
            if value not in known and value != opt.meta.none_word:
                values.insert(0, value)
            component: Any = gr.Dropdown(values, value=value, filterable=True, **common)
        elif opt.choices:
            component = gr.Radio(list(opt.choices), value=value, **common)
        elif opt.base_type is bool:
            component = gr.Checkbox(value=bool(value), **common)
        elif opt.base_type is int and opt.meta.minimum is not None and opt.meta.maximum is not None:
            component = gr.Slider(opt.meta.minimum, opt.meta.maximum, value=value, step=1, **common)
        elif opt.base_type in (int, float):
            component = gr.Number(
                value=value, minimum=opt.meta.minimum, maximum=opt.meta.maximum, **common
            )
        else:
            common["info"] = common["info"] or opt.help
            component = gr.Textbox(value=value, max_length=opt.meta.max_length, **common)
        controls.append(Control(opt, component))
    return controls


def option_changes(controls: Sequence[Control], values: Sequence[Any]) -> dict[str, Any]:
    """The typed value of every control (the UI always sends them all)."""
    if len(values) != len(controls):
        raise ValueError(f"expected {len(controls)} option values, got {len(values)}")
    return {c.option.name: c.value(v) for c, v in zip(controls, values, strict=True)}
