"""Writing transcripts to disk for the CLI and the UI: files, names and zips.

Output names come from user-supplied file names, so they are sanitised here
once: a stem never holds a path separator, never starts with a dot and never
collides with another stem of the same batch, even on case-insensitive disks.
Every file is written to a temporary name in the target directory and moved
into place with `os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from whisper_ui.domain import Transcript, no_speech
from whisper_ui.export import get_exporter, parse_formats
from whisper_ui.names import FALLBACK_STEM, safe_stem, unique_stems

__all__ = [
    "FALLBACK_STEM",
    "has_text",
    "safe_stem",
    "unique_stems",
    "write_transcript",
    "write_zip",
    "zip_transcripts",
]

_FILE_MODE = 0o644


def _check_stem(stem: str) -> None:
    """Refuse a stem that could escape the directory or that `safe_stem` would change."""
    if not stem or safe_stem(f"{stem}.x") != stem:
        raise ValueError(
            f"unsafe output stem {stem!r}: use safe_stem() or unique_stems() to make one"
        )


def _format_list(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Accept "txt,srt" as well as ["txt", "srt"]; a bare str is never split into letters."""
    if isinstance(formats, str):
        return parse_formats(formats)
    return parse_formats(",".join(formats))


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Yield a temporary file beside `path` that replaces `path` only on success."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; an output file should be readable like any other.
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_transcript(
    transcript: Transcript, formats: str | Iterable[str], directory: Path, stem: str
) -> list[Path]:
    """Write `directory/<stem>.<ext>` for each format and return the paths in format order.

    Everything is rendered before the first file is written, so a bad
    format name never leaves a partial set behind. The directory is created
    if needed; existing files of the same names are replaced.
    """
    _check_stem(stem)
    outputs = [
        (directory / f"{stem}.{e.extension}", e.render(transcript).encode("utf-8"))
        for e in (get_exporter(f) for f in _format_list(formats))
    ]
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in outputs:
        with _atomic_file(path) as handle:
            handle.write(data)
    return [path for path, _ in outputs]


def zip_transcripts(
    items: Sequence[tuple[str, Transcript]], formats: str | Iterable[str], zip_path: Path
) -> Path:
    """Write one zip file holding `<stem>.<ext>` for every (stem, transcript) with text
    and format (see `write_zip`); a reader never sees half of it."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic_file(zip_path) as handle:
        write_zip(items, formats, handle)
    return zip_path


def write_zip(
    items: Sequence[tuple[str, Transcript]], formats: str | Iterable[str], handle: BinaryIO
) -> list[str]:
    """Write a zip of `<stem>.<ext>` for every (stem, transcript) and format to `handle`;
    return the stems left out because their transcript has no text. A stem may be
    `folder/stem` (one level, both parts safe), for one folder per batch.

    A transcript without words (no speech, or a damaged file that decoded to almost
    nothing) would be a set of empty files that look like a failed export; its job
    says why instead ("no speech found"). Stems must be safe and distinct ignoring
    case (`unique_stems` makes them so); duplicates would become entries that
    overwrite each other on extraction. Everything is checked before the first byte is
    written.
    """
    exporters = [get_exporter(f) for f in _format_list(formats)]
    seen: set[str] = set()
    for stem, _ in items:
        # One folder level is allowed ("batch …/talk"): each part must be a safe stem.
        for part in stem.split("/", 1):
            _check_stem(part)
        if stem.casefold() in seen:
            raise ValueError(f"duplicate output stem {stem!r} in zip; use unique_stems()")
        seen.add(stem.casefold())
    now = time.localtime()[:6]
    skipped = [stem for stem, transcript in items if not has_text(transcript)]
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for stem, transcript in items:
            if not has_text(transcript):
                continue
            for exporter in exporters:
                info = zipfile.ZipInfo(f"{stem}.{exporter.extension}", date_time=now)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100000 | _FILE_MODE) << 16  # regular file, rw-r--r--
                archive.writestr(info, exporter.render(transcript).encode("utf-8"))
    return skipped


def has_text(transcript: Transcript) -> bool:
    """Whether a transcript is worth a file in a zip: it has at least one word."""
    return not no_speech(transcript)
