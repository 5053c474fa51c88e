"""WebVTT subtitles, the format HTML <track> elements play."""

from __future__ import annotations

from whisper_ui.domain import Transcript
from whisper_ui.export.base import escape_vtt, render_cues


class VttExporter:
    """`WEBVTT` header, then cues with `HH:MM:SS.mmm` times and escaped text; a
    speaker's cue in a voice span (`<v Speaker 1>`), which players show as its name."""

    name = "vtt"
    extension = "vtt"
    media_type = "text/vtt"

    def render(self, transcript: Transcript) -> str:
        """A valid file even when empty: just the header and a blank line."""
        return render_cues(
            transcript,
            decimal_marker=".",
            header="WEBVTT\n\n",
            numbered=False,
            escape=escape_vtt,
            label=lambda speaker, text: f"<v {speaker}>{text}",
        )
