"""Names from users made safe for disks: stems for output files, names for uploads.

A file name comes from a person or a request, so it is sanitised once, here, for every
layer that writes files (intake stages uploads, export writes transcripts): a stem
never holds a path separator, never starts with a dot and never collides with another
stem of the same batch, even on case-insensitive disks.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Sequence

FALLBACK_STEM = "transcript"
# Leaves room for "-NNN" and the extension within the common 255-byte name limit.
MAX_STEM_BYTES = 200
# Separators, characters Windows forbids, C0/C1 controls and bidi overrides
# (which can make "evil\u202etxt.exe" display as a harmless name).
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)


def safe_stem(name: str) -> str:
    """The stem of a file name, safe to use as a file name in any directory.

    Only the last path component counts (both "/" and "\\" separate); leading
    dots go, then the last extension (so ".mp3" gives "mp3"); the text is
    NFC-normalised (macOS hands out NFD); unsafe characters become "_";
    surrounding spaces and trailing dots are stripped (Windows drops them);
    Windows device names get a "_" prefix; an empty result is "transcript".
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    if "." in base:
        base = base.rsplit(".", 1)[0]
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", base))
    stem = _truncate_utf8(stem.strip().lstrip(".").strip(), MAX_STEM_BYTES)
    stem = stem.rstrip(". ")
    if not stem:
        return FALLBACK_STEM
    if stem.split(".", 1)[0].rstrip().upper() in _WINDOWS_RESERVED:
        return f"_{stem}"
    return stem


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut to at most `max_bytes` of UTF-8 without splitting a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def unique_stems(names: Sequence[str]) -> list[str]:
    """One distinct, safe stem per name, in the same order.

    Scheme: each name gets `safe_stem(name)`. The first name with a given
    stem keeps it; later ones get "-2", "-3", ... (the first free number).
    A suffixed stem never takes a stem that some other name has naturally,
    so ["a.mp3", "a.wav", "a-2.mp3"] gives ["a", "a-3", "a-2"]. Stems are
    compared case-insensitively ("Talk" and "talk" collide on macOS and
    Windows). The result depends only on the names and their order.
    """
    bases = [safe_stem(n) for n in names]
    natural = {b.casefold() for b in bases}
    used: set[str] = set()
    stems: list[str] = []
    for base in bases:
        stem = base
        n = 1
        while stem.casefold() in used or (n > 1 and stem.casefold() in natural):
            n += 1
            suffix = f"-{n}"
            # Shorten the base rather than let the suffix push past the limit.
            stem = _truncate_utf8(base, MAX_STEM_BYTES - len(suffix)) + suffix
        used.add(stem.casefold())
        stems.append(stem)
    return stems


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header value for any file name (RFC 6266).

    Header values are Latin-1 on the wire, so a name such as "会议.txt" would fail to
    encode: the plain `filename` gets an ASCII stand-in (unsafe and non-ASCII
    characters as "_") and `filename*` carries the real name percent-encoded in UTF-8.
    """
    ascii_name = "".join(
        c if " " <= c <= "~" and c not in '"\\%;' else "_"
        for c in unicodedata.normalize("NFKD", filename)
        if not unicodedata.combining(c)
    )
    quoted = urllib.parse.quote(filename, safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"
