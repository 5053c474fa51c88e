"""Downloads of the page: one file per format for the selected job, and a zip of all.

Nothing here runs on the event loop's time: transcript files are written in a worker
thread, once per job and set of formats, into the job's own export folder (deleted
with the job); the zip of a person's finished jobs is never stored at all: the route
builds it when the link is followed, in a thread, into a spooled temporary file that
disappears when the response is sent.

The zip route is outside Gradio, so the link carries a capability: a random token per
owner, known only to the pages that owner was served. A token reaches that owner's
finished jobs and nothing else; an unknown token is a 404, like a job that is not
yours in the API. With logins, the token is not enough: the request must also be
logged in as that owner (ui/files.py's GradioLogins), so a leaked link is no use to
another user. The export files themselves Gradio serves from its cache; `grants`
(ui/files.py) records whose copies those are.
"""

from __future__ import annotations

import asyncio
import html
import mimetypes
import secrets
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as Path_
from fastapi.responses import FileResponse, StreamingResponse

from whisper_ui.domain import Job, JobStatus, Transcript
from whisper_ui.export import FORMATS, parse_formats
from whisper_ui.export.files import has_text, write_transcript, write_zip
from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.names import content_disposition, safe_stem, unique_stems
from whisper_ui.ui.files import FileGrants, GradioLogins

ROUTE = "/downloads"
ZIP_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}\.zip$"
_SPOOL_BYTES = 8 * 2**20  # a larger zip spills to an unnamed temporary file
_CHUNK = 64 * 1024


class Downloads:
    """Export files and zip links for the UI's owners."""

    def __init__(self, registry: JobRegistry, exports_dir: Path) -> None:
        self.registry = registry
        self.exports_dir = exports_dir
        # Set by app.py when logins are configured (owner checks on every file route).
        self.grants: FileGrants | None = None
        self.logins: GradioLogins | None = None
        self._tokens: dict[str, str] = {}  # owner -> token
        self._owners: dict[str, str] = {}  # token -> owner
        # job id -> (formats, corrections revision) of the files on disk
        self._written: dict[str, tuple[tuple[str, ...], int]] = {}
        self._lock = threading.Lock()  # handlers run on the loop and in Gradio's threads

    # ---- per-job files -------------------------------------------------------------

    def cached(self, job: Job, formats: tuple[str, ...]) -> list[str] | None:
        """The paths already written for `job` in `formats`, or None."""
        with self._lock:
            if self._written.get(job.id) != (formats, self.registry.revision(job.id)):
                return None  # other formats, or corrected since: written again
        return [str(self._path(job, ext)) for ext in formats]

    async def files(self, job: Job, formats: tuple[str, ...]) -> list[str]:
        """`job`'s transcript in each format, written in a thread the first time."""
        found = self.cached(job, formats)
        if found is not None:
            return found
        transcript = self.registry.transcript(job.id)
        if transcript is None:
            return []
        folder = self.exports_dir / job.id
        revision = self.registry.revision(job.id)  # of `transcript`: read together
        paths = await asyncio.to_thread(self._write, folder, transcript, formats, job, revision)
        return [str(p) for p in paths]

    def _write(
        self,
        folder: Path,
        transcript: Transcript,
        formats: tuple[str, ...],
        job: Job,
        revision: int,
    ) -> list[Path]:
        # A new set of formats replaces the old one: no file of a format not asked for stays.
        shutil.rmtree(folder, ignore_errors=True)
        paths = write_transcript(transcript, formats, folder, safe_stem(job.name))
        if self.grants is not None:
            for path in paths:
                self.grants.grant_export(path, job.submitter)
        with self._lock:
            self._written[job.id] = (formats, revision)
        return paths

    def _path(self, job: Job, ext: str) -> Path:
        return self.exports_dir / job.id / f"{safe_stem(job.name)}.{ext}"

    def forget(self, job_id: str) -> None:
        """The job was deleted (its folder with it): write it again if it comes back."""
        with self._lock:
            self._written.pop(job_id, None)

    # ---- the zip of everything finished --------------------------------------------

    def token(self, owner: str) -> str:
        with self._lock:
            token = self._tokens.get(owner)
            if token is None:
                token = secrets.token_urlsafe(24)
                self._tokens[owner] = token
                self._owners[token] = owner
            return token

    def zip_url(self, owner: str, formats: Sequence[str]) -> str:
        query = urllib.parse.urlencode({"formats": ",".join(formats)})
        return f"{ROUTE}/{self.token(owner)}/{zip_name()}?{query}"

    def zip_link(self, owner: str, jobs: Sequence[Job], formats: Sequence[str]) -> str:
        """The "Download all" link for the page ("" when no finished file has words):
        it counts what the zip holds, and says how many finished files are left out."""
        done = [j for j in jobs if j.status is JobStatus.COMPLETED]
        worded = sum(1 for j in done if self._has_words(j))
        if not worded:
            return ""
        url = html.escape(self.zip_url(owner, formats), quote=True)
        label = f"Download all ({worded} {'transcript' if worded == 1 else 'transcripts'}, zip)"
        empty = len(done) - worded
        note = f'<span class="zip-note">{empty} without words left out</span>' if empty else ""
        return f'<a class="zip-link" href="{url}" download="{zip_name()}">{label}</a>{note}'

    def _has_words(self, job: Job) -> bool:
        transcript = self.registry.transcript(job.id)
        return transcript is not None and has_text(transcript)

    def finished(self, owner: str) -> list[tuple[str, Transcript]]:
        """(stem, transcript) of `owner`'s finished jobs, oldest first; read on the loop,
        where the registry changes (transcripts themselves are immutable).

        When two finished files have the same name (the same recording sent twice, or
        "interview.mp3" from two days), each batch gets its own folder, named for when
        it was sent, so the zip says which is which; otherwise the zip is flat."""
        jobs = sorted(
            (
                j
                for j in self.registry.jobs()
                if j.submitter == owner and j.status is JobStatus.COMPLETED
            ),
            key=lambda j: j.created_at,
        )
        repeated = len({safe_stem(j.name).casefold() for j in jobs}) < len(jobs)
        stems = _batch_stems(jobs) if repeated else unique_stems([j.name for j in jobs])
        items = []
        for stem, job in zip(stems, jobs, strict=True):
            transcript = self.registry.transcript(job.id)
            if transcript is not None:
                items.append((stem, transcript))
        return items

    def media_url(self, owner: str, job: Job) -> str:
        """Where the page's player fetches `job`'s recording (the owner's token, as for
        the zip; with logins, the request must be logged in as the owner too)."""
        return f"{ROUTE}/{self.token(owner)}/media/{urllib.parse.quote(job.id)}"

    def _owner(self, request: Request, token: str) -> str:
        """The owner `token` was given to, if this request may act for them; else 404."""
        with self._lock:
            owner = self._owners.get(token)
        if owner is None or (self.logins is not None and self.logins.user(request.scope) != owner):
            raise HTTPException(404, "no such download")
        return owner

    def router(self) -> APIRouter:
        router = APIRouter(prefix=ROUTE, include_in_schema=False)

        @router.get("/{token}/media/{job_id}")
        async def media(request: Request, token: str, job_id: str) -> FileResponse:
            """The job's uploaded recording for the page's player; FileResponse answers
            Range requests (206), so seeking in a long file fetches only what it needs."""
            owner = self._owner(request, token)
            job = self.registry.get(job_id)
            if job is None or job.submitter != owner:
                raise HTTPException(404, "no such recording")
            path = Path(job.path)
            if not await asyncio.to_thread(path.is_file):
                raise HTTPException(404, "the recording is no longer kept")
            kind = mimetypes.guess_type(job.name)[0] or "application/octet-stream"
            return FileResponse(
                path,
                media_type=kind,
                headers={
                    "Content-Disposition": content_disposition(job.name, "inline"),
                    "Cache-Control": "private, max-age=3600",
                    "X-Content-Type-Options": "nosniff",
                },
            )

        @router.get("/{token}/{name}")
        async def download_zip(
            request: Request,
            token: str,
            name: str = Path_(pattern=ZIP_NAME_PATTERN),
            formats: str = Query("txt,srt", max_length=64),
        ) -> StreamingResponse:
            owner = self._owner(request, token)
            try:
                chosen = tuple(f for f in FORMATS if f in parse_formats(formats))
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            items = [(stem, t) for stem, t in self.finished(owner) if has_text(t)]
            if not items:
                raise HTTPException(404, "no finished transcripts with words yet")
            spool = await asyncio.to_thread(_spooled_zip, items, chosen)
            return StreamingResponse(
                _chunks(spool),
                media_type="application/zip",
                headers={"Content-Disposition": content_disposition(name)},
            )

        return router


def _batch_stems(jobs: Sequence[Job]) -> list[str]:
    """`batch YYYY-MM-DD HH.MM.SS/stem` per job: one folder per batch, named for when the
    batch was sent (unique among themselves), stems unique within each folder."""
    first: dict[str, float] = {}
    for job in jobs:
        key = job.batch_id or job.id
        first[key] = min(first.get(key, job.created_at), job.created_at)
    batches = sorted(first, key=lambda b: first[b])
    labels = [time.strftime("batch %Y-%m-%d %H.%M.%S", time.localtime(first[b])) for b in batches]
    folders = dict(zip(batches, unique_stems([f"{label}.x" for label in labels]), strict=True))
    stems = [""] * len(jobs)
    for batch in batches:
        members = [i for i, j in enumerate(jobs) if (j.batch_id or j.id) == batch]
        for i, stem in zip(members, unique_stems([jobs[i].name for i in members]), strict=True):
            stems[i] = f"{folders[batch]}/{stem}"
    return stems


def zip_name(now: float | None = None) -> str:
    """A zip named for the day it was made, so downloads on different days do not
    overwrite each other in the person's Downloads folder."""
    return time.strftime("whisper-ui-%Y-%m-%d.zip", time.localtime(now))


def _spooled_zip(items: Sequence[tuple[str, Transcript]], formats: tuple[str, ...]) -> BinaryIO:
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (closed by _chunks)
    try:
        write_zip(items, formats, spool)  # type: ignore[arg-type]
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool  # type: ignore[return-value]


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Starlette iterates a sync iterator in its thread pool; the file closes at the end."""
    try:
        while chunk := handle.read(_CHUNK):
            yield chunk
    finally:
        handle.close()
