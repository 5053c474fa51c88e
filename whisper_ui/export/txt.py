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
        """Every segment's text on its own line, `[Speaker 1] ` where the speaker
        changes; "" when nothing was said."""
        out: list[str] = []
        speaker: str | None = None
        for segment in transcript.segments:
            line = single_line(segment.text)
            if not line:
                continue
            if segment.speaker is not None and segment.speaker != speaker:
                speaker = segment.speaker
                line = f"[{single_line(speaker)}] {line}"
            out.append(f"{line}\n")
        return "".join(out)
