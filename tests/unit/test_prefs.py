"""Options remembered in the browser: what comes back is checked, and the summary reads."""

from __future__ import annotations

import gradio as gr

from whisper_ui.options import TranscribeOptions
from whisper_ui.ui import prefs
from whisper_ui.ui.controls import build_controls


def controls() -> list:  # type: ignore[type-arg]
    with gr.Blocks():
        return build_controls(TranscribeOptions(), {"model": ["tiny.en"], "language": ["en"]})


def test_a_saved_choice_comes_back_and_a_bad_one_is_dropped() -> None:
    made = controls()
    names = [c.option.name for c in made]
    saved = {"beam_size": 3, "model": "large-v9", "word_timestamps": "yes?", "formats": ["vtt"]}
    values = prefs.restored(made, saved, {"model": ["tiny.en"], "language": ["auto", "en"]})
    by_name = dict(zip([*names, "formats"], values, strict=True))
    assert by_name["beam_size"] == 3
    assert by_name["model"] is None  # not installed here: the page's default stays
    assert by_name["formats"] == ["vtt"]
    assert prefs.restored(made, "not a dict", {})[-1] is None
    assert prefs.restored(made, {"formats": ["exe"]}, {})[-1] is None


def test_snapshot_and_summary() -> None:
    made = controls()
    values = [c.component.value for c in made]
    snap = prefs.snapshot(made, [*values, ["srt", "txt"]])
    assert snap["formats"] == ["txt", "srt"]
    assert prefs.summary(snap) == "Options · tiny.en · auto · txt, srt"
    assert prefs.summary({"model": "base", "language": "de", "task": "translate",
                          "formats": []}) == (
        "Options · base · German (de) · translate to English · no formats"
    )  # fmt: skip


def test_what_the_browser_kept_is_read_only_when_it_is_a_small_json_object() -> None:
    assert prefs.parse_stored('{"beam_size": 2}') == {"beam_size": 2}
    for raw in (None, 3, "", "not json", "[1, 2]", '"text"', '{"a": "' + "x" * 20_000 + '"}'):
        assert prefs.parse_stored(raw) == {}, raw


def test_the_browser_side_code_names_every_saved_value_and_the_key() -> None:
    save = prefs.save_js(["model", "beam_size", "formats"])
    assert '["model", "beam_size", "formats"]' in save
    assert prefs.STORAGE_KEY in save and prefs.STORAGE_KEY in prefs.load_js()
    assert "return [kept]" in prefs.load_js()
