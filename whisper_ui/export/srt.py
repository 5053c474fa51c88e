"""SubRip subtitles, the format most video players and editors accept."""

from __future__ import annotations

from whisper_ui.domain import Transcript
from whisper_ui.export.base import render_cues


class SrtExporter:
    """Numbered cues with `HH:MM:SS,mmm` times (SubRip uses a comma)."""

    name = "srt"
    extension = "srt"
    media_type = "application/x-subrip; charset=utf-8"

    def render(self, transcript: Transcript) -> str:
        """The cue blocks; "" for a transcript without speech."""
        return render_cues(transcript, decimal_marker=",")
