"""Staging uploads: every accepted file is copied (or moved) into the data directory.

Uploads arrive in places we do not own (Gradio's temp dir, a request body); a job
must outlive those, and its file name comes from a user, so it is sanitised here
once and every upload gets a folder of its own (names from two users never clash).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from whisper_ui.domain import Upload
from whisper_ui.names import safe_stem

_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")


def display_name(name: str) -> str:
    """The base name a person knows the file by, without any directory part."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base or "upload"


def safe_filename(name: str) -> str:
    """A file name safe on any disk: a sanitised stem plus a plain extension, if any."""
    base = display_name(name)
    match = _EXTENSION.search(base)
    stem = safe_stem(base)
    return f"{stem}.{match.group(1).lower()}" if match else stem


def stage_file(src: Path, name: str, uploads_dir: Path, *, move: bool = False) -> Upload:
    """Put `src` into `uploads_dir/<random>/<safe name>` and describe it as an Upload.

    `move` is for files we already own (a request body spooled to a temp file on the
    same disk); otherwise the source is copied and left alone.
    """
    folder = uploads_dir / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / safe_filename(name)
    if move:
        try:
            os.replace(src, target)
        except OSError:  # another filesystem
            shutil.move(str(src), target)
    else:
        shutil.copyfile(src, target)
    return Upload(str(target), display_name(name))


def discard(upload: Upload) -> None:
    """Remove a staged upload and its folder (job deleted, or refused at submit)."""
    folder = Path(upload.path).parent
    shutil.rmtree(folder, ignore_errors=True)
