"""engine/language_check on made-up segments: the bounds, and who is not checked."""

from __future__ import annotations

import numpy as np

from whisper_ui.domain import (
    WORDLESS_SPEECH,
    Segment,
    Transcript,
    TranscriptInfo,
    explains_no_text,
    wordless_speech_warning,
)
from whisper_ui.engine.language_check import check_language, mean_logprob

INFO = TranscriptInfo(language="en", language_probability=1.0, duration=10.0)


def transcript(*spans: tuple[float, float, float, str]) -> Transcript:
    return Transcript(
        info=INFO,
        segments=tuple(
            Segment(id=i, start=a, end=b, text=text, avg_logprob=lp)
            for i, (a, b, lp, text) in enumerate(spans)
        ),
    )


def test_the_mean_is_weighted_by_duration_and_skips_empty_segments() -> None:
    t = transcript((0, 8, -0.2, "long"), (8, 10, -1.0, "short"), (10, 20, -5.0, "  "))
    mean, covered = mean_logprob(t.segments)
    assert covered == 10 and abs(mean - (-0.36)) < 1e-9


def test_unsure_text_from_an_english_only_model_is_flagged() -> None:
    unsure = transcript((0, 5, -1.0, "We are not going to"), (5, 9, -0.9, "be able to"))
    warning = check_language(unsure, None, model="tiny.en", english_only=True)
    assert warning is not None and "tiny.en" in warning and "multilingual" in warning
    sure = transcript((0, 5, -0.4, "The red car"), (5, 9, -0.5, "is parked"))
    assert check_language(sure, None, model="tiny.en", english_only=True) is None


def test_multilingual_models_and_too_little_text_are_not_judged() -> None:
    unsure = transcript((0, 9, -1.2, "words"))
    assert check_language(unsure, None, model="base", english_only=False) is None
    brief = transcript((0, 2, -1.2, "Hmm."))
    assert check_language(brief, None, model="tiny.en", english_only=True) is None


def test_no_words_over_silence_is_not_a_language_problem() -> None:
    empty = transcript()
    silence = np.zeros(16000 * 5, dtype=np.float32)
    assert check_language(empty, silence, model="tiny.en", english_only=True) is None
    assert check_language(empty, None, model="tiny.en", english_only=True) is None


def test_the_wordless_warning_explains_the_empty_text() -> None:
    warning = wordless_speech_warning(8.4, "tiny.en")
    assert warning.startswith(WORDLESS_SPEECH) and "(8 s)" in warning
    assert "(3 min)" in wordless_speech_warning(185, "tiny.en")
    assert explains_no_text((warning,)) and not explains_no_text(("the file ends early",))
