"""Plain text: what a person pastes into a document."""

from __future__ import annotations

from whisper_ui.domain import Transcript
from whisper_ui.export.base import single_line


class TxtExporter:
    """One line per non-empty segment, so line breaks follow the speech."""

    name = "txt"
    extension = "txt"
    media_type = "text/plain; charset=utf-8"

    def render(self, transcript: Transcript) -> str:
        """Every segment's text on its own line; "" when nothing was said."""
        lines = (single_line(s.text) for s in transcript.segments)
        return "".join(f"{line}\n" for line in lines if line)
