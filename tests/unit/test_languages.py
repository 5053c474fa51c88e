"""Every language faster-whisper can name has the name OpenAI's API reports it by."""

from __future__ import annotations

from faster_whisper.tokenizer import _LANGUAGE_CODES

from whisper_ui.languages import NAMES, name_of


def test_every_whisper_language_code_has_a_name() -> None:
    assert set(_LANGUAGE_CODES) <= set(NAMES)
    assert len(set(NAMES.values())) == len(NAMES), "names are unique"


def test_names_are_what_openai_reports() -> None:
    assert name_of("en") == "english" and name_of("de") == "german"
    assert name_of("yue") == "cantonese" and name_of("haw") == "hawaiian"
    assert name_of("xx") == "xx"  # unknown: as it is
