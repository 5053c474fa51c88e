"""Tab-separated values, laid out like openai-whisper's tsv writer."""

from __future__ import annotations

from whisper_ui.domain import Transcript
from whisper_ui.export.base import single_line, to_milliseconds


class TsvExporter:
    """`start`, `end` in integer milliseconds, then the text; for spreadsheets."""

    name = "tsv"
    extension = "tsv"
    media_type = "text/tab-separated-values; charset=utf-8"

    def render(self, transcript: Transcript) -> str:
        """Header line plus one row per non-empty segment."""
        rows = ["start\tend\ttext\n"]
        for segment in transcript.segments:
            # Tabs and line breaks would shift or split the row.
            text = single_line(segment.text).replace("\t", " ")
            if not text:
                continue
            start = to_milliseconds(segment.start)
            end = max(start, to_milliseconds(segment.end))
            rows.append(f"{start}\t{end}\t{text}\n")
        return "".join(rows)
