"""Warn when an English-only model was given speech it probably cannot transcribe.

With a `.en` model, faster-whisper skips language detection and reports English at
100 %, so German or French speech comes out as confident-looking English nonsense, and
Spanish sometimes as nothing at all, with nothing on screen to say why. Two cheap
signs tell it apart without a second model:

- the decoder's own confidence: the duration-weighted mean `avg_logprob` of the
  segments sits well below what English speech gives (README "Languages" has the
  measured values), so a low mean says "this may not be English";
- no text at all while the voice-activity detector hears seconds of speech: the
  model heard a voice and wrote nothing, which is not "no speech found".

Multilingual models detect the language themselves and are not second-guessed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from whisper_ui.audio import SAMPLE_RATE
from whisper_ui.domain import Segment, Transcript, wordless_speech_warning

HEARD_WITHIN_S = 600.0  # VAD looks at the first ten minutes: an hour of silence costs no more


@dataclass(frozen=True)
class LanguageCheck:
    """The bounds of the check (README "Languages" has the values they come from)."""

    # Measured with tiny.en (README "Languages"): clean English -0.23 … -0.54, seven other
    # languages -0.95 … -1.54, English under loud noise -0.82 … -1.01.
    min_mean_logprob: float = -0.75
    min_text_s: float = 3.0  # less decoded speech than this tells too little
    min_heard_s: float = 2.0  # speech heard by VAD, with no words, before saying so


def mean_logprob(segments: Sequence[Segment]) -> tuple[float, float]:
    """(duration-weighted mean avg_logprob, seconds covered) over segments with text."""
    total = weighted = 0.0
    for segment in segments:
        length = max(0.0, segment.end - segment.start)
        if not segment.text.strip() or length <= 0:
            continue
        total += length
        weighted += segment.avg_logprob * length
    return (weighted / total if total else 0.0, total)


def unlikely_language_warning(model: str) -> str:
    """The warning for text the model was unsure of: speech in another language, or
    English too noisy to read well (both measured below the bound); a person reads it."""
    return (
        f"the model was unsure of most of this text: the speech may not be English, which "
        f"is all {model} transcribes (for another language, transcribe it again with a "
        "multilingual model such as base), or the recording is very noisy"
    )


def check_language(
    transcript: Transcript,
    samples: npt.NDArray[np.float32] | None,
    *,
    model: str,
    english_only: bool,
    bounds: LanguageCheck = LanguageCheck(),
) -> str | None:
    """The warning for `transcript` made by `model`, or None when nothing looks wrong.

    `samples` (16 kHz mono) are only read when the transcript has no text, to ask the
    VAD whether there was speech in it; None skips that.
    """
    if not english_only:
        return None
    mean, covered = mean_logprob(transcript.segments)
    if covered >= bounds.min_text_s:
        return unlikely_language_warning(model) if mean < bounds.min_mean_logprob else None
    if transcript.text or samples is None or not len(samples):
        return None
    heard = speech_seconds(samples[: int(HEARD_WITHIN_S * SAMPLE_RATE)])
    if heard < bounds.min_heard_s:
        return None
    return wordless_speech_warning(heard, model)


def speech_seconds(samples: npt.NDArray[np.float32]) -> float:
    """Seconds of speech in `samples` by faster-whisper's Silero VAD (bundled, offline)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(samples, VadOptions())
    return float(sum(span["end"] - span["start"] for span in spans)) / SAMPLE_RATE
