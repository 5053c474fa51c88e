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
        """Header line plus one row per non-empty segment; a `speaker` column after
        `text` when the transcript has speakers."""
        speakers = any(s.speaker is not None for s in transcript.segments)
        rows = ["start\tend\ttext\tspeaker\n" if speakers else "start\tend\ttext\n"]
        for segment in transcript.segments:
            # Tabs and line breaks would shift or split the row.
            text = single_line(segment.text).replace("\t", " ")
            if not text:
                continue
            start = to_milliseconds(segment.start)
            end = max(start, to_milliseconds(segment.end))
            if speakers:
                who = single_line(segment.speaker or "").replace("\t", " ")
                rows.append(f"{start}\t{end}\t{text}\t{who}\n")
            else:
                rows.append(f"{start}\t{end}\t{text}\n")
        return "".join(rows)
