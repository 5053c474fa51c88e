"""The one declaration of the options reaches every front it names, and a new one does too.

Each front is built from an `OptionSet`: settings (config.Settings), the jobs API form and
its response model, the OpenAI form mapping, the UI controls and the CLI flags. A test
here fails when an option is declared for a front that does not carry it, and a dummy
option declared in a subclass (as the speakers option will be) reaches the API, the UI
and the CLI with nothing but its declaration.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gradio as gr
import pytest

from whisper_ui.api.forms import (
    JobFields,
    TranscriptionFields,
    form_fields,
    openai_changes,
    option_changes,
)
from whisper_ui.api.schemas import OptionsOut
from whisper_ui.cli import SETTING_FLAGS, add_option_flags
from whisper_ui.cli import option_changes as cli_changes
from whisper_ui.config import Settings
from whisper_ui.options import (
    OPTIONS,
    UNSET,
    OptionsError,
    OptionSet,
    TranscribeOptions,
    option,
)
from whisper_ui.ui.controls import build_controls
from whisper_ui.ui.controls import option_changes as ui_changes


@dataclass(frozen=True)
class WithSpeakers(TranscribeOptions):
    """A dummy option, declared the way a new one is."""

    speakers: int = option(2, help="How many people speak", label="Speakers", minimum=1, maximum=8)


DUMMY = OptionSet(WithSpeakers)


def parser(options: OptionSet = OPTIONS) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_option_flags(p, options)
    return p


# ---- every declared option reaches each front it names -----------------------------


def test_settings_carry_every_settings_option_with_its_default() -> None:
    defaults = Settings().default_options()
    for opt in OPTIONS.on("settings"):
        assert opt.name in Settings.model_fields, opt.name
        assert getattr(defaults, opt.name) == getattr(TranscribeOptions(), opt.name)


def test_settings_parse_option_values_by_the_declaration() -> None:
    settings = Settings(language="auto", beam_size="3", vad_filter="yes")  # type: ignore[arg-type]
    assert (settings.language, settings.beam_size, settings.vad_filter) == (None, 3, True)
    with pytest.raises(ValueError, match="beam_size must be at most 20"):
        Settings(beam_size=21)


def test_the_jobs_form_and_response_carry_every_api_option() -> None:
    assert set(JobFields.model_fields) == set(OPTIONS.names("api"))
    assert set(OptionsOut.model_fields) == set(OPTIONS.names())


def test_the_openai_mapping_sets_every_openai_option() -> None:
    aliases = {f.alias or name for name, f in TranscriptionFields.model_fields.items()}
    fields = TranscriptionFields.model_validate(
        {"model": "base", "language": "de", "prompt": "Hi", "temperature": 0.4,
         "timestamp_granularities[]": ["word"], "speakers": "2"}
    )  # fmt: skip
    changes = openai_changes(fields, "transcribe")
    for opt in OPTIONS.on("openai"):
        assert opt.meta.openai_field in aliases, opt.name
        assert changes.get(opt.name, UNSET) is not UNSET, opt.name
    assert set(changes) <= set(OPTIONS.names())
    options = OPTIONS.build(TranscribeOptions(), changes)
    assert (options.language, options.initial_prompt, options.word_timestamps) == (
        "de", "Hi", True,
    )  # fmt: skip
    assert options.temperature == (0.4, 0.6, 0.8, 1.0)


def test_the_ui_has_one_control_per_ui_option_in_declaration_order() -> None:
    with gr.Blocks():
        controls = build_controls(TranscribeOptions(), {"model": ["tiny.en"]})
    assert [c.option.name for c in controls] == list(OPTIONS.names("ui"))
    for control in controls:
        assert control.component.elem_id == f"opt-{control.option.name}"


def test_the_cli_has_one_flag_per_cli_option() -> None:
    dests = {a.dest for a in parser()._actions}
    for opt in OPTIONS.on("cli"):
        assert opt.name in dests or opt.name in SETTING_FLAGS, opt.name


# ---- "not set" is not None -----------------------------------------------------------


def test_a_left_out_field_keeps_the_default_and_auto_overrides_it() -> None:
    configured = TranscribeOptions(language="de", beam_size=3)
    left_out = option_changes(JobFields.model_validate({}))
    assert all(v is UNSET for v in left_out.values())
    assert OPTIONS.build(configured, left_out) == configured
    auto = option_changes(JobFields.model_validate({"language": "auto"}))
    assert OPTIONS.build(configured, auto).language is None
    args = parser().parse_args(["--language", "auto", "--no-vad"])
    built = OPTIONS.build(TranscribeOptions(language="de", vad_filter=True), cli_changes(args))
    assert (built.language, built.vad_filter, built.beam_size) == (None, False, 5)


def test_vad_is_on_by_default_and_every_front_can_turn_it_off() -> None:
    """VAD defaults on (README, "Silence and VAD"): settings, yaml and the page's checkbox
    follow the declaration, and the CLI's --no-vad and the API's vad_filter=false still
    give a job without it."""
    assert OPTIONS["vad_filter"].default is True
    defaults = Settings().default_options()  # configs/default.yaml included
    assert defaults.vad_filter is True
    with gr.Blocks():
        controls = build_controls(defaults, {"model": ["tiny.en"]})
    (checkbox,) = [c.component for c in controls if c.option.name == "vad_filter"]
    assert checkbox.value is True
    off = parser().parse_args(["--no-vad"])
    assert OPTIONS.build(defaults, cli_changes(off)).vad_filter is False
    assert OPTIONS.build(defaults, cli_changes(parser().parse_args([]))).vad_filter is True
    form = option_changes(JobFields.model_validate({"vad_filter": "false"}))
    assert OPTIONS.build(defaults, form).vad_filter is False


def test_values_outside_the_declaration_are_refused_with_the_option_named() -> None:
    with pytest.raises(OptionsError, match="beam_size must be at most 20"):
        OPTIONS.build(TranscribeOptions(), {"beam_size": 21})
    with pytest.raises(OptionsError, match="task must be one of transcribe, translate"):
        OPTIONS["task"].parse("summarise")
    with pytest.raises(OptionsError, match="unknown option"):
        OPTIONS.build(TranscribeOptions(), {"colour": "red"})
    with pytest.raises(argparse.ArgumentError, match="beam_size"):
        parser().parse_args(["--beam-size", "0"])


# ---- a new option: one declaration reaches API, UI and CLI -------------------------


def test_a_dummy_option_reaches_the_api_the_ui_and_the_cli() -> None:
    base = WithSpeakers()

    api_form = form_fields("DummyFields", "api", "test", DUMMY)
    assert "speakers" in api_form.model_json_schema()["properties"]
    sent = option_changes(api_form.model_validate({"speakers": "3"}), DUMMY)
    assert DUMMY.build(base, sent).speakers == 3  # type: ignore[attr-defined]
    assert option_changes(api_form.model_validate({}), DUMMY)["speakers"] is UNSET

    with gr.Blocks():
        controls = build_controls(base, {"model": ["tiny.en"]}, DUMMY)
    (slider,) = [c for c in controls if c.option.name == "speakers"]
    assert isinstance(slider.component, gr.Slider) and slider.component.elem_id == "opt-speakers"
    values = [
        4.0 if c.option.name == "speakers" else getattr(base, c.option.name) for c in controls
    ]
    values = ["auto" if v is None else v for v in values]
    assert DUMMY.build(base, ui_changes(controls, values)).speakers == 4  # type: ignore[attr-defined]

    args = parser(DUMMY).parse_args(["--speakers", "5"])
    assert DUMMY.build(base, cli_changes(args, DUMMY)).speakers == 5  # type: ignore[attr-defined]
    with pytest.raises(argparse.ArgumentError, match="speakers must be at most 8"):
        parser(DUMMY).parse_args(["--speakers", "9"])
