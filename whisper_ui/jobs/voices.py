"""Reference clips that name speakers: OpenAI's data URLs, and a person's saved voices.

A clip is written once under `<data_dir>/voices/`, named by its content's hash (the
same clip sent with many requests is one file), and checked as audio there, so a job
only ever holds paths of clips that decode. Saved voices are a person's own:
`<data_dir>/voices/saved/<owner hash>/<name hash>.json` points at a clip, and every
later job of theirs with speakers on gets them as references (engine/diarize names the
nearest voice after its clip).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from whisper_ui import audio
from whisper_ui.domain import Voice

MAX_VOICES = 4  # OpenAI's limit on known speakers per request
MIN_CLIP_S = 1.0
MAX_CLIP_S = 30.0
MAX_NAME_CHARS = 60
_DATA_URL = re.compile(r"^data:([\w.+/-]*)((?:;[\w.+-]+=[\w.+-]+)*);base64,(.*)$", re.S)


class VoiceError(ValueError):
    """A reference that cannot be used; str() names it and says why."""


@dataclass(frozen=True)
class SavedVoice:
    name: str
    path: str
    duration: float


def check_name(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise VoiceError(f"{what}: a speaker name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise VoiceError(f"{what}: a speaker name may have at most {MAX_NAME_CHARS} characters")
    return name


def decode_data_url(url: str, what: str) -> bytes:
    """The bytes of a base64 data URL, or VoiceError naming `what`."""
    match = _DATA_URL.match(url.strip())
    if match is None:
        raise VoiceError(f"{what}: not a base64 data URL (data:audio/...;base64,...)")
    try:
        return base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        raise VoiceError(f"{what}: its base64 data is malformed") from None


def store_clip(data: bytes, voices_dir: Path, what: str) -> tuple[str, float]:
    """Write a clip by its hash and check it is audio of a usable length: (path, seconds)."""
    if not data:
        raise VoiceError(f"{what}: the clip is empty")
    voices_dir.mkdir(parents=True, exist_ok=True)
    target = voices_dir / f"{hashlib.sha256(data).hexdigest()[:32]}.clip"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=voices_dir)
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
        os.replace(tmp, target)
    try:
        info = audio.probe(target, name=what)
    except audio.AudioError as exc:
        target.unlink(missing_ok=True)
        raise VoiceError(str(exc)) from None
    if not MIN_CLIP_S <= info.duration <= MAX_CLIP_S:
        raise VoiceError(
            f"{what}: the clip is {info.duration:.1f} s long; a reference must be "
            f"{MIN_CLIP_S:g}-{MAX_CLIP_S:g} s of one voice"
        )
    return str(target), info.duration


def known_voices(names: list[str], references: list[str], voices_dir: Path) -> tuple[Voice, ...]:
    """OpenAI's known_speaker_names[] with known_speaker_references[] as Voices."""
    if len(names) != len(references):
        raise VoiceError(
            f"known_speaker_names[] has {len(names)} entries and known_speaker_references[] "
            f"{len(references)}: give one name per reference clip"
        )
    if len(names) > MAX_VOICES:
        raise VoiceError(f"at most {MAX_VOICES} known speakers, not {len(names)}")
    voices = []
    for n, (name, url) in enumerate(zip(names, references, strict=True)):
        what = f"known_speaker_references[{n}]"
        checked = check_name(name, f"known_speaker_names[{n}]")
        path, _ = store_clip(decode_data_url(url, what), voices_dir, what)
        voices.append(Voice(checked, path))
    if len({v.name for v in voices}) != len(voices):
        raise VoiceError("known_speaker_names[] has the same name twice")
    return tuple(voices)


# ---- a person's saved voices ----------------------------------------------------


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class SavedVoices:
    """Named clips a person keeps; only their owner lists, uses or deletes them."""

    def __init__(self, voices_dir: Path) -> None:
        self.dir = voices_dir

    def _owner_dir(self, owner: str) -> Path:
        return self.dir / "saved" / _key(owner)

    def save(self, owner: str, name: str, data: bytes) -> SavedVoice:
        name = check_name(name, "voice")
        path, duration = store_clip(data, self.dir, name)
        folder = self._owner_dir(owner)
        folder.mkdir(parents=True, exist_ok=True)
        entry = {"name": name, "path": path, "duration": duration}
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            json.dump(entry, sink, ensure_ascii=False)
        os.replace(tmp, folder / f"{_key(name)}.json")
        return SavedVoice(name, path, duration)

    def list(self, owner: str) -> list[SavedVoice]:
        folder = self._owner_dir(owner)
        found = []
        for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                entry = json.loads(meta.read_text(encoding="utf-8"))
                voice = SavedVoice(str(entry["name"]), str(entry["path"]), float(entry["duration"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if Path(voice.path).is_file():
                found.append(voice)
        return sorted(found, key=lambda v: v.name.lower())

    def delete(self, owner: str, name: str) -> bool:
        meta = self._owner_dir(owner) / f"{_key(' '.join(name.split()))}.json"
        if not meta.is_file():
            return False
        meta.unlink()
        return True

    def for_job(self, owner: str, given: tuple[Voice, ...] = ()) -> tuple[Voice, ...]:
        """The voices a new job of `owner` is labelled with: those the request gave,
        then their saved ones under other names."""
        names = {v.name for v in given}
        saved = tuple(Voice(v.name, v.path) for v in self.list(owner) if v.name not in names)
        return (*given, *saved)
