"""Streaming multipart reader: files go straight to disk in the data dir, under a limit.

Starlette's form parser spools files to the system temp dir and reads the whole body
before a route runs, so the size limit could only be checked afterwards. Here the body
is parsed as it arrives: file parts are written to temp files in `<data_dir>/uploads`
(the same disk the job will use, so staging is a rename) and a body over the limit is
refused with 413 as soon as it crosses it, without reading the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from whisper_ui.api.errors import bad_request, from_domain, too_large
from whisper_ui.domain import Job, TranscribeOptions, Upload, Voice
from whisper_ui.jobs import intake
from whisper_ui.jobs.queue import QueueFull
from whisper_ui.options import OptionsError
from whisper_ui.services import Services

MAX_FIELD_BYTES = 64 * 1024
# Bounds on what a body may make us keep: parts (fields and files) and text in all.
MAX_PARTS = 1000
MAX_FIELDS_TOTAL_BYTES = 1 << 20
# Reference clips of known speakers come as data URLs (OpenAI's API): 10 s of 48 kHz
# stereo WAV is 1.9 MB, 2.6 MB in base64. They count toward the upload limit instead.
LONG_FIELDS = frozenset({"known_speaker_references[]", "known_speaker_references"})
MAX_LONG_FIELD_BYTES = 4 << 20
# Room for the multipart framing and the option fields on top of the files themselves.
FRAMING_SLACK_BYTES = 64 * 1024


@dataclass
class SpooledFile:
    field: str
    filename: str
    path: Path


@dataclass
class Form:
    """The parsed body: text fields (every value, in order) and the spooled files."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)
    parts: int = 0
    field_bytes: int = 0

    def values(self, name: str) -> list[str]:
        """Every value of a list field, sent as `name[]` (OpenAI's clients) or `name`."""
        return [*self.fields.get(name + "[]", ()), *self.fields.get(name, ())]

    def discard(self) -> None:
        for f in self.files:
            with contextlib.suppress(OSError):
                f.path.unlink()

    def stage(self, uploads_dir: Path) -> list[Upload]:
        """Move every spooled file to its own folder under a sanitised name (intake)."""
        return [intake.stage_file(f.path, f.filename, uploads_dir, move=True) for f in self.files]


async def submit_form(
    services: Services,
    form: Form,
    options: TranscribeOptions,
    submitter: str,
    voices: tuple[Voice, ...] = (),
) -> list[Job]:
    """Stage the form's files and queue them; a refused submission leaves no files behind.

    With speakers on, the job is labelled with `voices` and the submitter's saved voices."""
    uploads_dir = services.settings.resolved_data_dir / "uploads"
    staged = await asyncio.to_thread(form.stage, uploads_dir)
    if options.speakers != "off":
        voices = await asyncio.to_thread(services.voices.for_job, submitter, voices)
    try:
        return await services.dispatcher.submit(staged, options, submitter=submitter, voices=voices)
    except (OptionsError, QueueFull) as exc:
        for upload in staged:
            intake.discard(upload)
        raise from_domain(exc) from None


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)
    sink: IO[bytes] | None = None


class _Collector:
    """Parser callbacks: they only record; the async caller writes the file data."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, Any]] = []
        self._field = b""
        self._value = b""
        self._headers: dict[str, str] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").lower()
        # latin-1 keeps the raw bytes; _open_part decodes the name and filename as UTF-8.
        self._headers[name] = self._value.decode("latin-1")
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        self.ops.append(("part", dict(self._headers)))

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.ops.append(("data", bytes(data[start:end])))

    def _end(self) -> None:
        self.ops.append(("end", None))


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise bad_request("the body must be multipart/form-data", "invalid_content_type")
    return boundary


async def read_form(
    request: Request, *, spool_dir: Path, limit_mb: int, file_fields: frozenset[str]
) -> Form:
    """Parse a multipart body; parts named in `file_fields` with a filename go to disk.

    Raises ApiError 400 (not multipart, a field too long) or 413 (over `limit_mb`,
    decided from Content-Length up front or while streaming). Nothing is left on disk
    when it raises.
    """
    limit = limit_mb * 2**20 + FRAMING_SLACK_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit_mb)
    collector = _Collector()
    parser = MultipartParser(_boundary(request), collector.callbacks())  # type: ignore[arg-type]
    form = Form()
    part: _Part | None = None
    received = 0
    await asyncio.to_thread(spool_dir.mkdir, parents=True, exist_ok=True)
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large(limit_mb)
            try:
                parser.write(chunk)
            except Exception as exc:  # python-multipart raises its own errors for bad framing
                raise bad_request(f"malformed multipart body: {exc}", "invalid_body") from exc
            ops, collector.ops = collector.ops, []
            part = await _apply(ops, part, form, spool_dir, file_fields)
        try:
            parser.finalize()
        except Exception as exc:
            raise bad_request(f"malformed multipart body: {exc}", "invalid_body") from exc
        part = await _apply(collector.ops, part, form, spool_dir, file_fields)
        if part is not None and part.sink is not None:
            part.sink.close()
    except BaseException:
        if part is not None and part.sink is not None:
            part.sink.close()
        form.discard()
        raise
    return form


async def _apply(
    ops: list[tuple[str, Any]],
    part: _Part | None,
    form: Form,
    spool_dir: Path,
    file_fields: frozenset[str],
) -> _Part | None:
    """Act on the recorded parser events; file data is written off the event loop."""
    pending = bytearray()
    for op, arg in ops:
        if op == "part":
            form.parts += 1
            if form.parts > MAX_PARTS:
                raise bad_request(
                    f"too many form fields and files (more than {MAX_PARTS})", "too_many_fields"
                )
            part = _open_part(arg, form, spool_dir, file_fields)
        elif op == "data" and part is not None:
            if part.sink is not None:
                pending += arg
            elif part.name in LONG_FIELDS:
                part.value += arg
                if len(part.value) > MAX_LONG_FIELD_BYTES:
                    raise bad_request(
                        f"form field {part.name!r} is over {MAX_LONG_FIELD_BYTES >> 20} MB "
                        "(a reference clip is 2-10 s of audio)",
                        "field_too_long",
                    )
            else:
                part.value += arg
                form.field_bytes += len(arg)
                if len(part.value) > MAX_FIELD_BYTES:
                    raise bad_request(f"form field {part.name!r} is too long", "field_too_long")
                if form.field_bytes > MAX_FIELDS_TOTAL_BYTES:
                    raise bad_request(
                        f"the form's text fields are over {MAX_FIELDS_TOTAL_BYTES >> 20} MB",
                        "fields_too_long",
                    )
        elif op == "end" and part is not None:
            if part.sink is not None:
                await _write(part.sink, pending)
                pending = bytearray()
                part.sink.close()
                part.sink = None
            elif part.filename is None:
                form.fields.setdefault(part.name, []).append(part.value.decode("utf-8", "replace"))
            part = None
    if part is not None and part.sink is not None and pending:
        await _write(part.sink, pending)
    return part


def _open_part(
    headers: dict[str, str], form: Form, spool_dir: Path, file_fields: frozenset[str]
) -> _Part:
    try:
        _, params = parse_options_header(headers.get("content-disposition", ""))
    except ValueError as exc:  # python-multipart's own header parsing errors
        raise bad_request(f"malformed Content-Disposition: {exc}", "invalid_body") from exc
    name = params.get(b"name", b"").decode("utf-8", "replace")
    raw_filename = params.get(b"filename")
    part = _Part(headers, name, raw_filename.decode("utf-8", "replace") if raw_filename else None)
    if part.filename is not None and name in file_fields:
        fd, path = tempfile.mkstemp(prefix=".incoming-", dir=spool_dir)
        part.sink = os.fdopen(fd, "wb")
        form.files.append(SpooledFile(name, part.filename or "upload", Path(path)))
    return part


async def _write(sink: IO[bytes], data: bytearray) -> None:
    if data:
        await asyncio.to_thread(sink.write, bytes(data))
