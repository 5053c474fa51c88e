"""JSON: the lossless format, for programs rather than people.

Named json_format so that it never shadows the standard `json` module.
"""

from __future__ import annotations

import json
import math
from typing import Any

from whisper_ui.domain import Segment, Transcript, Word
from whisper_ui.export.base import to_milliseconds


def _time(seconds: float) -> float:
    """Seconds rounded to the millisecond, the same way the subtitles round."""
    return to_milliseconds(seconds) / 1000


def _number(value: float) -> float | None:
    """NaN and infinities are not JSON; write null so that parsers accept the file."""
    return value if math.isfinite(value) else None


def _word(word: Word) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": _time(word.start),
        "end": _time(word.end),
        "word": word.word,
        "probability": _number(word.probability),
    }
    if word.speaker is not None:
        data["speaker"] = word.speaker
    return data


def _segment(segment: Segment) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": segment.id,
        "start": _time(segment.start),
        "end": _time(segment.end),
        "text": segment.text,
        "avg_logprob": _number(segment.avg_logprob),
        "no_speech_prob": _number(segment.no_speech_prob),
    }
    if segment.speaker is not None:
        data["speaker"] = segment.speaker
    if segment.words:
        data["words"] = [_word(w) for w in segment.words]
    return data


class JsonExporter:
    """Every segment (empty ones too) with its raw text and scores.

    Segment and word text are kept as decoded, leading spaces included, so
    that words can be joined back exactly; only the top-level `text` is the
    cleaned, space-joined transcript.
    """

    name = "json"
    extension = "json"
    media_type = "application/json"

    def render(self, transcript: Transcript) -> str:
        """Indented UTF-8 JSON (not \\u-escaped) with a trailing newline."""
        info = transcript.info
        data: dict[str, Any] = {
            "text": transcript.text,
            "language": info.language,
            "language_probability": _number(info.language_probability),
            "duration": _time(info.duration),
            "source": transcript.source_name,
            "segments": [_segment(s) for s in transcript.segments],
        }
        talk = transcript.talk_time()
        if talk:
            data["speakers"] = [{"name": n, "talk_time": _time(t)} for n, t in talk.items()]
        return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
