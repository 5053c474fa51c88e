"""The Gradio UI: many files in, a live queue table, each file's transcript as it grows.

Handlers never call the model: they stage uploads, submit jobs to the dispatcher and
then only *watch* — a listener on the event bus wakes the stream whenever one of this
person's jobs changes, and the view is re-rendered from the dispatcher's state. So the
UI's concurrency limit is not what limits transcription; the model pool is.

Each browser session (or each logged-in user) is an owner: it sees and controls only
its own jobs. View state that must survive between events (the selected file, the
chosen export formats) lives server-side, keyed by owner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from whisper_ui.domain import TERMINAL, Job, JobEvent, JobStateError, JobStatus, Upload
from whisper_ui.export import FORMATS
from whisper_ui.jobs.intake import discard, stage_file
from whisper_ui.jobs.queue import QueueFull
from whisper_ui.options import OptionsError
from whisper_ui.services import Services
from whisper_ui.ui import view
from whisper_ui.ui.controls import Control, build_controls, option_changes
from whisper_ui.ui.downloads import Downloads
from whisper_ui.ui.identity import client_id

# By extension, not by "audio"/"video" categories: those depend on the system's mime
# table and reject .m4a/.flac/.ogg/.mkv on a bare machine (docs/gradio.md).
MEDIA_EXTENSIONS = [
    ".mp3", ".wav", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".wma",
    ".aiff", ".aif", ".amr", ".mpga", ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".mpeg",
    ".mpg", ".3gp", ".ts",
]  # fmt: skip

DEFAULT_FORMATS = ["txt", "srt"]
REFRESH_S = 1.0  # re-render at least this often while jobs run (elapsed/remaining times)
COALESCE_S = 0.15  # gather a burst of segment events into one update
RESOURCES_S = 3.0

CSS = """
#transcript textarea { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
#zip a.zip-link {
  display: block; width: 100%; box-sizing: border-box; text-align: center;
  padding: var(--size-2) var(--size-4); border-radius: var(--button-large-radius);
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill);
  color: var(--button-secondary-text-color); font-weight: var(--button-large-text-weight);
  text-decoration: none;
}
#zip a.zip-link:hover { background: var(--button-secondary-background-fill-hover); }
"""


def owner_of(request: gr.Request | None) -> str:
    """A logged-in user owns their jobs; else the browser (cookie); else the page session."""
    if request is None:
        return "anonymous"
    username = getattr(request, "username", None)
    if username:
        return str(username)
    try:
        browser = client_id(request.cookies)
    except AttributeError:
        browser = None
    if browser:
        return f"browser:{browser}"
    return f"session:{getattr(request, 'session_hash', None) or 'unknown'}"


class WebUI:
    """Builds the Blocks and holds the per-owner view state its handlers share."""

    def __init__(self, services: Services, exports_dir: Path, uploads_dir: Path) -> None:
        self.services = services
        self.exports_dir = exports_dir
        self.uploads_dir = uploads_dir
        self._selected: dict[str, str] = {}
        self._formats: dict[str, tuple[str, ...]] = {}
        self.downloads = Downloads(services.registry, exports_dir)
        self._controls: list[Control] = []

    # ---- state helpers ---------------------------------------------------------

    def jobs_of(self, owner: str) -> list[Job]:
        return [j for j in self.services.registry.jobs() if j.submitter == owner]

    def _own(self, owner: str, job_id: str | None) -> Job | None:
        job = self.services.registry.get(job_id) if job_id else None
        return job if job is not None and job.submitter == owner else None

    def _active(self, owner: str) -> bool:
        return any(j.status not in TERMINAL for j in self.jobs_of(owner))

    def _formats_of(self, owner: str) -> tuple[str, ...]:
        return self._formats.get(owner, tuple(DEFAULT_FORMATS))

    # ---- rendering -------------------------------------------------------------

    async def render(self, owner: str, message: str | None = None) -> tuple[Any, ...]:
        """(status, table, file picker, transcript, downloads, zip link) for `owner`.

        Runs on the loop (the registry changes there); the only disk work, writing the
        selected job's files the first time, goes to a thread.
        """
        jobs = self.jobs_of(owner)
        registry = self.services.registry
        order = self.services.queue.order()
        positions = {j.id: i for i, j in enumerate(order)}
        ahead: dict[str, float] = {}
        total = 0.0
        for queued in order:
            ahead[queued.id] = total
            total += queued.duration
        rows = [
            view.JobRow(j, registry.progress(j.id), positions.get(j.id), ahead.get(j.id, 0.0))
            for j in jobs
        ]
        slots = max(1, self.services.pool.snapshot().slots)
        table = view.queue_rows(rows, time.time(), view.speed_estimate(jobs), slots)

        selected = self._own(owner, self._selected.get(owner))
        if selected is None and jobs:
            running = [j for j in jobs if j.status is JobStatus.RUNNING]
            selected = (running or jobs)[0]
            self._selected[owner] = selected.id
        choices = [(f"{j.name} · {j.status.value}", j.id) for j in jobs]
        picker = gr.update(choices=choices, value=selected.id if selected else None)
        return (
            gr.skip() if message is None else message,
            table or [[""] * len(view.QUEUE_HEADERS)],
            picker,
            self._transcript(selected),
            await self._downloads(owner, selected),
            self._zip(owner, jobs),
        )

    def _transcript(self, job: Job | None) -> str:
        if job is None:
            return ""
        if job.status is JobStatus.FAILED:
            return f"✖ {job.error or 'failed'}"
        transcript = self.services.registry.transcript(job.id)
        text = view.transcript_text(transcript.segments) if transcript else ""
        if job.status is JobStatus.QUEUED:
            return text or "Waiting in the queue…"
        if job.status is JobStatus.RUNNING and not text:
            return "Transcribing… the first words appear here as soon as they are decoded."
        if job.status is JobStatus.CANCELLED:
            return (text + "\n\n" if text else "") + "(cancelled)"
        return text or "(no speech found)"

    async def _downloads(self, owner: str, job: Job | None) -> Any:
        if job is None or job.status is not JobStatus.COMPLETED:
            return None
        return await self.downloads.files(job, self._formats_of(owner))

    def _zip(self, owner: str, jobs: Sequence[Job]) -> Any:
        link = self.downloads.zip_link(owner, jobs, self._formats_of(owner))
        return gr.update(value=link, visible=bool(link))

    async def stream(
        self, owner: str, message: str | None = None
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Yield a fresh view whenever one of `owner`'s jobs changes, until none is active."""
        changed = asyncio.Event()

        def on_event(event: JobEvent) -> None:
            job = self.services.registry.get(event.job_id)
            if job is not None and job.submitter == owner:
                changed.set()

        remove = self.services.bus.add_listener(on_event)
        try:
            yield await self.render(owner, message)
            while self._active(owner):
                try:
                    await asyncio.wait_for(changed.wait(), REFRESH_S)
                    await asyncio.sleep(COALESCE_S)
                except TimeoutError:
                    pass
                changed.clear()
                yield await self.render(owner)
            yield await self.render(owner)
        finally:
            remove()

    # ---- handlers --------------------------------------------------------------

    async def transcribe(
        self, request: gr.Request, files: list[str] | None, *values: Any
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Queue the files with the options on the page.

        Inputs are the files, one value per option control (declaration order), then
        the export formats. `request` comes first: Gradio injects it by annotation, and
        it finds no annotated parameter after `*values`.
        """
        owner = owner_of(request)
        *option_values, formats = values
        if not files:
            yield await self.render(owner, "Add one or more audio or video files first.")
            return
        self._formats[owner] = tuple(f for f in FORMATS if f in (formats or DEFAULT_FORMATS))
        try:
            options = self.services.default_options(**option_changes(self._controls, option_values))
        except OptionsError as exc:
            yield await self.render(owner, f"**Not queued:** {view.escape_md(str(exc))}")
            return
        uploads = await asyncio.to_thread(self._stage, files)
        try:
            jobs = await self.services.dispatcher.submit(uploads, options, submitter=owner)
        except (OptionsError, QueueFull) as exc:
            for upload in uploads:
                discard(upload)
            yield await self.render(owner, f"**Not queued:** {view.escape_md(str(exc))}")
            return
        failed = [j for j in jobs if j.status is JobStatus.FAILED]
        good = [j for j in jobs if j.status is not JobStatus.FAILED]
        if good:
            self._selected[owner] = good[0].id
        message = f"Queued {len(good)} file(s)."
        if failed:
            message += " Rejected: " + "; ".join(view.escape_md(j.error or j.name) for j in failed)
        async for update in self.stream(owner, message):
            yield update

    def _stage(self, files: Sequence[str]) -> list[Upload]:
        return [stage_file(Path(f), Path(f).name, self.uploads_dir) for f in files]

    async def watch(self, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """On page load: show this owner's jobs and follow any still running."""
        async for update in self.stream(owner_of(request)):
            yield update

    async def pick(self, job_id: str | None, request: gr.Request) -> tuple[Any, Any]:
        owner = owner_of(request)
        job = self._own(owner, job_id)
        if job is not None:
            self._selected[owner] = job.id
        return self._transcript(job), await self._downloads(owner, job)

    async def cancel(self, job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(request)
        job = self._own(owner, job_id)
        if job is None:
            return await self.render(owner, "Choose a file to cancel.")
        ok = self.services.dispatcher.cancel(job.id)
        name = view.escape_md(job.name)
        return await self.render(owner, f"Cancelling {name}…" if ok else f"{name} is finished.")

    async def cancel_all(self, request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(request)
        count = sum(
            self.services.dispatcher.cancel(j.id)
            for j in self.jobs_of(owner)
            if j.status not in TERMINAL
        )
        return await self.render(owner, f"Cancelling {count} job(s)…")

    async def retry(
        self, job_id: str | None, request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        owner = owner_of(request)
        job = self._own(owner, job_id)
        if job is None:
            yield await self.render(owner, "Choose a failed or cancelled file to retry.")
            return
        try:
            new = await self.services.dispatcher.retry(job.id)
        except (JobStateError, OptionsError, QueueFull) as exc:
            yield await self.render(owner, view.escape_md(str(exc)))
            return
        self._selected[owner] = new.id
        async for update in self.stream(owner, f"Retrying {view.escape_md(job.name)}."):
            yield update

    async def delete(self, job_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Remove a finished job with its uploaded file and its transcripts."""
        owner = owner_of(request)
        job = self._own(owner, job_id)
        if job is None:
            return await self.render(owner, "Choose a finished file to delete.")
        try:
            self.services.delete_job(job.id)
        except JobStateError as exc:
            return await self.render(owner, view.escape_md(str(exc)))
        self._selected.pop(owner, None)
        self.downloads.forget(job.id)
        return await self.render(owner, f"Deleted {view.escape_md(job.name)} and its files.")

    def resources(self) -> str:
        return view.resources_markdown(self.services.status())

    # ---- layout ----------------------------------------------------------------

    def build(self) -> gr.Blocks:
        catalog = self.services.catalog
        settings = self.services.settings
        models = [n for n in catalog.names() if catalog.availability(n).available]
        if settings.model not in models:
            models.insert(0, settings.model)
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        languages = ["auto", *sorted(_LANGUAGE_CODES)]
        with gr.Blocks(title="whisper-ui", delete_cache=(3600, 3600)) as blocks:
            gr.Markdown("## whisper-ui — transcribe many files at once")
            with gr.Row():
                with gr.Column(scale=2):
                    files = gr.File(
                        label="Audio or video files",
                        file_count="multiple",
                        file_types=MEDIA_EXTENSIONS,
                        elem_id="files",
                    )
                    with gr.Accordion("Options", open=False):
                        self._controls = build_controls(
                            settings.default_options(),
                            {"model": models, "language": languages},
                        )
                        formats = gr.CheckboxGroup(
                            list(FORMATS), value=DEFAULT_FORMATS, label="Download formats"
                        )
                    go = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
                    status = gr.Markdown(elem_id="status")
                with gr.Column(scale=3):
                    table = gr.Dataframe(
                        headers=view.QUEUE_HEADERS,
                        value=[["", "", "", "", "", "", "", ""]],
                        interactive=False,
                        label="Queue",
                        elem_id="queue",
                        wrap=True,
                        column_widths=["22%", "9%", "25%", "10%", "8%", "9%", "8%", "9%"],
                    )
                    with gr.Row():
                        picker = gr.Dropdown(
                            choices=[], label="Show file", elem_id="picker", scale=5
                        )
                        cancel = gr.Button("Cancel", size="sm", scale=1, min_width=70)
                        cancel_all = gr.Button("Cancel all", size="sm", scale=1, min_width=70)
                        retry = gr.Button("Retry", size="sm", scale=1, min_width=70)
                        delete = gr.Button("Delete", size="sm", scale=1, min_width=70)
                    transcript = gr.Textbox(
                        label="Transcript",
                        lines=14,
                        max_lines=30,
                        autoscroll=True,
                        interactive=False,
                        elem_id="transcript",
                    )
                    downloads = gr.File(
                        label="Downloads",
                        file_count="multiple",
                        interactive=False,
                        elem_id="downloads",
                    )
                    zip_button = gr.HTML("", visible=False, elem_id="zip")
            with gr.Accordion("Resources", open=True):
                resources = gr.Markdown(self.resources(), elem_id="resources")
            timer = gr.Timer(RESOURCES_S)

            view_outputs = [status, table, picker, transcript, downloads, zip_button]
            live: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
            go.click(
                self.transcribe,
                [files, *(c.component for c in self._controls), formats],
                view_outputs,
                api_name="transcribe",
                **live,
            )
            picker.input(self.pick, [picker], [transcript, downloads], **live)
            cancel.click(self.cancel, [picker], view_outputs, api_name="cancel", **live)
            cancel_all.click(self.cancel_all, None, view_outputs, api_name="cancel_all", **live)
            retry.click(self.retry, [picker], view_outputs, api_name="retry", **live)
            delete.click(self.delete, [picker], view_outputs, api_name="delete", **live)
            timer.tick(self.resources, None, [resources], show_progress="hidden")
            blocks.load(self.watch, None, view_outputs, **live)
        built: gr.Blocks = blocks
        return built


def build_ui(services: Services, data_dir: Path) -> WebUI:
    """The page for `services`; exports and uploads live under `data_dir`.

    The caller mounts `.build()` and includes `.downloads.router()` on the same app.
    """
    exports = data_dir / "exports"
    uploads = data_dir / "uploads"
    exports.mkdir(parents=True, exist_ok=True)
    uploads.mkdir(parents=True, exist_ok=True)
    return WebUI(services, exports, uploads)
