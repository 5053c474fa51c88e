"""The page's speakers pieces: the option's choices and disabled state, colours, summary."""

from __future__ import annotations

import gradio as gr
import pytest

from whisper_ui.domain import Segment, TranscribeOptions
from whisper_ui.ui import speakers_view
from whisper_ui.ui.controls import build_controls
from whisper_ui.ui.speakers_view import speaker_choices, speakers_disabled, summary_html
from whisper_ui.ui.transcript_view import transcript_html


def test_the_choices_read_as_words() -> None:
    choices = speaker_choices()
    assert choices[:3] == [("Off", "off"), ("Count the voices", "auto"), ("1 person", "1")]
    assert ("2 people", "2") in choices and choices[-1] == ("10 people", "10")


def test_without_the_extra_the_control_is_greyed_out_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(speakers_view.diarize, "available", lambda: False)
    disabled = speakers_disabled()
    assert disabled == {"speakers": "Needs the speakers extra: pip install 'whisper-ui[speakers]'"}
    with gr.Blocks():
        controls = build_controls(
            TranscribeOptions(),
            {"model": ["tiny.en"], "speakers": speaker_choices()},
            disabled=disabled,
        )
    (control,) = [c for c in controls if c.option.name == "speakers"]
    assert (
        control.component.interactive is False and "whisper-ui[speakers]" in control.component.info
    )
    monkeypatch.setattr(speakers_view.diarize, "available", lambda: True)
    assert speakers_disabled() == {}


def test_names_are_escaped_and_each_speaker_keeps_one_colour() -> None:
    segments = [
        Segment(0, 0.0, 3.0, " Hello.", speaker="<b>Ann</b>"),
        Segment(1, 3.0, 4.0, " Hi.", speaker="Speaker 2"),
        Segment(2, 4.0, 5.0, " Again.", speaker="<b>Ann</b>"),
    ]
    summary = summary_html(segments, renamable=True)
    assert "<b>Ann" not in summary and "&lt;b&gt;Ann&lt;/b&gt;" in summary
    assert "2 speakers" in summary and "0:04 · 80 %" in summary and "0:01 · 20 %" in summary
    assert summary_html([Segment(0, 0, 1, " x")], renamable=True) == ""
    from whisper_ui.domain import Job, JobStatus

    job = Job("j", "/x.wav", "x.wav", TranscribeOptions(), 5.0, status=JobStatus.COMPLETED)
    page = transcript_html(job, segments, None, edited={})
    assert page.count('class="seg spk-0"') == 2 and page.count('class="seg spk-1"') == 1
    assert page.count('class="who-line"') == 3  # a name at each change
    assert "<b>Ann</b>" not in page
