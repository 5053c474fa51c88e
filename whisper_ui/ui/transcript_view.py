"""The open file's transcript as HTML that follows the decoding.

One line per segment with its time; a header with the file's state and its detected
language; "Copy text" and, while the person has scrolled away from the newest words,
"Jump to live". TRANSCRIPT_JS keeps the view at the bottom while the file runs and the
person has not scrolled up (the template re-renders on every update, so it restores
the position itself), and stops following as soon as they do.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from whisper_ui.domain import (
    NO_SPEECH,
    Job,
    JobStatus,
    Segment,
    TranscriptInfo,
    explains_no_text,
)
from whisper_ui.languages import language_label
from whisper_ui.ui.view import stamp

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpeg", ".mpg", ".3gp", ".ts"}
)


def media_kind(name: str) -> str:
    """ "video" (the player shows the picture) or "audio", by the file's extension."""
    return "video" if Path(name).suffix.lower() in VIDEO_EXTENSIONS else "audio"


def _lines(segments: Sequence[Segment]) -> str:
    """One line per segment; its time is a button that seeks the player there."""
    return "".join(
        f'<p class="seg" data-start="{s.start:.3f}" data-end="{s.end:.3f}">'
        f'<button type="button" class="time" data-t="{s.start:.3f}" '
        f'title="Play from here">{stamp(s.start)}</button>'
        f'<span class="text">{html.escape(s.text.strip())}</span></p>'
        for s in segments
        if s.text.strip()
    )


def language_note(info: TranscriptInfo | None) -> str:
    if info is None or not info.language:
        return ""
    return f"{language_label(info.language)} · {round(info.language_probability * 100)} %"


def completed_note(job: Job, *, has_text: bool) -> str:
    """The note (HTML, escaped) over a completed transcript: its warnings (a damaged
    file: the text covers only what decoded), and "No speech found" when it is empty;
    "" for a complete file with words."""
    found = [w for w in job.warnings if w != NO_SPEECH]
    parts = [f"Warning: {html.escape(w)}." for w in found]
    if not has_text and not explains_no_text(job.warnings):
        parts.append("No speech found in this file.")
    return " ".join(parts)


def transcript_html(
    job: Job | None,
    segments: Sequence[Segment],
    info: TranscriptInfo | None,
    media: str = "",
) -> str:
    """The transcript pane for `job` (None: nothing chosen yet); `media` is where the
    player (ui/player.py) fetches its recording ("" for none)."""
    if job is None:
        return '<div class="placeholder">Choose a file in the list to see its transcript.</div>'
    name = html.escape(job.name)
    body = _lines(segments)
    note = ""
    if job.status is JobStatus.FAILED:
        note = html.escape(job.error or "failed")
    elif job.status is JobStatus.QUEUED and not body:
        note = "Waiting in the queue…"
    elif job.status is JobStatus.RUNNING and not body:
        note = "Transcribing… the first words appear here as soon as they are decoded."
    elif job.status is JobStatus.CANCELLED:
        note = "Cancelled: the text decoded before that is kept."
    elif job.status is JobStatus.COMPLETED:
        note = completed_note(job, has_text=bool(body))
    language = language_note(info)
    live = int(job.status is JobStatus.RUNNING)
    source = html.escape(media, quote=True)
    return (
        f'<div class="head" data-media="{source}" data-kind="{media_kind(job.name)}" '
        f'data-job="{html.escape(job.id, quote=True)}">'
        f'<span class="title">{name}</span>'
        f'<span class="lang">{html.escape(language)}</span>'
        + (
            '<span class="tools"><button type="button" class="copy">Copy text</button></span>'
            if body
            else ""
        )
        + "</div>"
        + (f'<p class="note {_note_kind(job)}">{note}</p>' if note else "")
        + (
            f'<div class="lines" data-job="{job.id}" data-live="{live}" tabindex="0">{body}</div>'
            '<button type="button" class="jump" hidden>Jump to live ↓</button>'
            if body or live
            else ""
        )
    )


def _note_kind(job: Job) -> str:
    """The note's colour class: its status, or `warning` for a completed job with some."""
    if job.status is JobStatus.COMPLETED and job.warnings:
        return "warning"
    return job.status.value


TRANSCRIPT_JS = """
let follow = true, job = null, saved = 0;
const lines = () => element.querySelector('.lines');
const jump = () => element.querySelector('.jump');
const atBottom = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 32;
element.addEventListener('scroll', (event) => {
  const box = lines();
  if (event.target !== box) return;
  saved = box.scrollTop;
  follow = atBottom(box);
  const button = jump();
  if (button) button.hidden = follow || box.dataset.live !== '1';
}, true);
element.addEventListener('click', (event) => {
  const box = lines();
  if (event.target.closest('.jump') && box) {
    follow = true;
    box.scrollTop = box.scrollHeight;
    event.target.closest('.jump').hidden = true;
  } else if (event.target.closest('.copy') && box) {
    const text = Array.from(box.querySelectorAll('.text')).map(t => t.textContent).join('\\n');
    navigator.clipboard?.writeText(text);
    const copy = event.target.closest('.copy');
    copy.textContent = 'Copied';
    setTimeout(() => { copy.textContent = 'Copy text'; }, 1500);
  }
});
const place = () => {
  const box = lines();
  if (!box) return;
  if (box.dataset.job !== job) {
    job = box.dataset.job;
    follow = box.dataset.live === '1';
    box.scrollTop = follow ? box.scrollHeight : 0;
  } else if (follow) {
    box.scrollTop = box.scrollHeight;
  } else {
    box.scrollTop = saved;
  }
  saved = box.scrollTop;
  const button = jump();
  if (button) button.hidden = follow || box.dataset.live !== '1';
};
watch('body', place);
place();
"""

TRANSCRIPT_CSS = """
.head { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; margin-bottom: 6px; }
.title { font-weight: 600; overflow-wrap: anywhere; }
.lang { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.tools { margin-left: auto; }
.copy, .jump { font-size: var(--text-sm); padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.jump[hidden] { display: none; }
.jump { position: sticky; bottom: 8px; float: right; margin-top: -40px; margin-right: 12px; }
.note { margin: 4px 0 8px; color: var(--body-text-color-subdued); }
.note.failed { color: #d93b3b; }
.note.warning { color: #7a3d00; background: #fde3c4; padding: 4px 8px; border-radius: 6px; }
.placeholder { padding: 16px; color: var(--body-text-color-subdued); }
.lines { height: 52vh; min-height: 220px; overflow-y: auto; padding: 8px 10px;
  border: 1px solid var(--border-color-primary); border-radius: 8px;
  background: var(--block-background-fill);
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: var(--text-md); }
@media (max-width: 640px) { .lines { height: auto; max-height: 60vh; min-height: 120px; } }
.seg { margin: 0 0 4px; display: flex; gap: 10px; }
.time { flex: none; color: var(--body-text-color-subdued); font: inherit; background: none;
  border: none; padding: 0 2px; border-radius: 4px; cursor: pointer; }
.time:hover, .time:focus-visible { color: var(--body-text-color); text-decoration: underline; }
.seg.playing { background: var(--color-accent-soft); border-radius: 4px; }
.seg.playing .time { color: var(--body-text-color); }
.text { overflow-wrap: anywhere; }
"""
