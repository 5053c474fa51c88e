"""The open file's transcript as HTML that follows the decoding.

One line per segment with its time; a header with the file's state and its detected
language; "Copy text" and, while the person has scrolled away from the newest words,
"Jump to live". TRANSCRIPT_JS keeps the view at the bottom while the file runs and the
person has not scrolled up (the template re-renders on every update, so it restores
the position itself), and stops following as soon as they do.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
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
from whisper_ui.ui.speakers_view import name_button, speaker_order, summary_html
from whisper_ui.ui.view import stamp

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpeg", ".mpg", ".3gp", ".ts"}
)


def media_kind(name: str) -> str:
    """ "video" (the player shows the picture) or "audio", by the file's extension."""
    return "video" if Path(name).suffix.lower() in VIDEO_EXTENSIONS else "audio"


def _lines(segments: Sequence[Segment], edited: Mapping[int, str] | None = None) -> str:
    """One line per segment; its time is a button that seeks the player there. With
    `edited` (not None: the job has finished, so it may be corrected) each text can be
    edited in place, and an edited one says so, with what the model wrote and a restore
    button (`edited` maps a segment id to the model's text)."""
    out = []
    time_hint = (
        "Play from here (double-click to change the times or the speaker)"
        if edited is not None
        else "Play from here"
    )
    colours = speaker_order(segments)
    speaker: str | None = None
    for s in segments:
        text = s.text.strip()
        if not text and (edited is None or s.id not in edited):
            continue
        colour = f" spk-{colours[s.speaker]}" if s.speaker in colours else ""
        who_attr = (
            f' data-speaker="{html.escape(s.speaker, quote=True)}"' if s.speaker is not None else ""
        )
        if s.speaker is not None and s.speaker != speaker and s.speaker in colours:
            speaker = s.speaker
            who = name_button(speaker, colours[speaker], renamable=edited is not None)
            out.append(f'<p class="who-line">{who}</p>')
        mine = edited is not None and s.id in edited
        shown = html.escape(text)
        editable = (
            f' contenteditable="plaintext-only" spellcheck="true" data-was="{shown}"'
            f' title="Click to correct; Enter saves, Esc cancels"'
            if edited is not None
            else ""
        )
        restore = ""
        if mine:
            assert edited is not None
            was = html.escape(edited[s.id].strip(), quote=True)
            restore = (
                f'<button type="button" class="restore" data-action="restore" '
                f'title="Restore what the model wrote: {was}">↺</button>'
            )
        out.append(
            f'<p class="seg{" edited" if mine else ""}{colour}" data-id="{s.id}" '
            f'data-start="{s.start:.3f}" data-end="{s.end:.3f}"{who_attr}>'
            f'<button type="button" class="time" data-t="{s.start:.3f}" '
            f'title="{time_hint}">{stamp(s.start)}</button>'
            f'<span class="text"{editable}>{shown}</span>{restore}</p>'
        )
    return "".join(out)


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
    edited: Mapping[int, str] | None = None,
    seek: str = "",
) -> str:
    """The transcript pane for `job` (None: nothing chosen yet); `media` is where the
    player (ui/player.py) fetches its recording ("" for none); `edited` (segment id ->
    the model's text) is given once the job has finished and makes the text editable;
    `seek` ("SECONDS:NONCE", from a search result) asks the player to go there."""
    if job is None:
        return '<div class="placeholder">Choose a file in the list to see its transcript.</div>'
    name = html.escape(job.name)
    body = _lines(segments, edited)
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
        f'data-job="{html.escape(job.id, quote=True)}" data-seek="{html.escape(seek, quote=True)}">'
        f'<span class="title">{name}</span>'
        f'<span class="lang">{html.escape(language)}</span>'
        + (f'<span class="tools">{_tools(edited)}</span>' if body else "")
        + "</div>"
        + (_find_bar() if body and edited is not None else "")
        + summary_html(segments, renamable=edited is not None)
        + (f'<p class="note {_note_kind(job)}">{note}</p>' if note else "")
        + (
            f'<div class="lines" data-job="{job.id}" data-live="{live}" tabindex="0">{body}</div>'
            '<button type="button" class="jump" hidden>Jump to live ↓</button>'
            if body or live
            else ""
        )
    )


def _tools(edited: Mapping[int, str] | None) -> str:
    """The head's buttons: copy; once finished, find/replace, undo, restore all."""
    tools = '<button type="button" class="copy">Copy text</button>'
    if edited is None:
        return tools
    tools = (
        '<button type="button" class="find-open" aria-expanded="false">Find and replace'
        "</button>"
        '<button type="button" data-action="undo" title="Undo the last correction">Undo'
        "</button>" + tools
    )
    if edited:
        count = f"{len(edited)} {'segment' if len(edited) == 1 else 'segments'}"
        tools = (
            f'<span class="edits">{count} corrected</span>'
            '<button type="button" data-action="restore-all" '
            'title="Back to what the model wrote, everywhere">Restore all</button>' + tools
        )
    return tools


def _find_bar() -> str:
    return (
        '<form class="find" hidden><input class="find-text" placeholder="Find" '
        'aria-label="Find" maxlength="200"><input class="replace-text" placeholder='
        '"Replace with" aria-label="Replace with" maxlength="200">'
        '<label><input type="checkbox" class="find-case"> Match case</label>'
        '<button type="submit" data-action="replace">Replace all</button>'
        '<span class="found" role="status"></span></form>'
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
// Corrections go back to Python as the component's value, a JSON action (WebUI.edit).
const send = (action, extra) => {
  const head = element.querySelector('.head');
  props.value = JSON.stringify({job: head ? head.dataset.job : '', action, ...extra,
                                at: Date.now()});
  trigger('click');
};
const editing = (target) => target.closest && target.closest('.text[contenteditable]');
element.addEventListener('focusout', (event) => {
  const text = editing(event.target);
  if (!text) return;
  const now = text.innerText.replace(/\\s+/g, ' ').trim();
  if (now === text.dataset.was) return;
  text.dataset.was = now;
  send('edit', {segment: +text.closest('.seg').dataset.id, text: now});
});
element.addEventListener('keydown', (event) => {
  const text = editing(event.target);
  if (!text) return;
  if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); text.blur(); }
  if (event.key === 'Escape') { text.innerText = text.dataset.was; text.blur(); }
});
element.addEventListener('click', (event) => {
  const button = event.target.closest && event.target.closest('[data-action]');
  if (button && button.dataset.action === 'rename') {
    const was = button.dataset.speaker;
    const name = prompt(`Name for ${was} in the whole file (empty: back to the label)`, was);
    if (name !== null && name.trim() !== was) send('rename', {speaker: was, name: name.trim()});
  } else if (button && button.dataset.action !== 'replace') {
    const seg = button.closest('.seg');
    if (button.dataset.action === 'restore-all' &&
        !confirm('Restore what the model wrote in every corrected segment?')) return;
    send(button.dataset.action, seg ? {segment: +seg.dataset.id} : {});
  }
  const open = event.target.closest && event.target.closest('.find-open');
  if (open) {
    const form = element.querySelector('.find');
    form.hidden = !form.hidden;
    open.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) form.querySelector('.find-text').focus();
  }
});
// Double-click a time (finished files): change the segment's start and end in place.
const seconds = (text) => {
  const parts = text.trim().split(':').map(Number);
  if (!parts.length || parts.some((p) => !Number.isFinite(p))) return NaN;
  return parts.reduce((total, p) => total * 60 + p, 0);
};
element.addEventListener('dblclick', (event) => {
  const time = event.target.closest && event.target.closest('.time');
  const seg = time && time.closest('.seg');
  if (!seg || !seg.querySelector('.text[contenteditable]') || seg.querySelector('.times')) return;
  const form = document.createElement('form');
  form.className = 'times';
  const show = (t) => { const m = Math.floor(t / 60); return `${m}:${(t - m * 60).toFixed(2)}`; };
  form.innerHTML = '<input class="t-start" aria-label="Start (m:ss)" size="7">–' +
    '<input class="t-end" aria-label="End (m:ss)" size="7">' +
    '<button type="submit">Save times</button>' +
    '<button type="button" class="t-cancel">Cancel</button>';
  form.querySelector('.t-start').value = show(+seg.dataset.start);
  form.querySelector('.t-end').value = show(+seg.dataset.end);
  // With speakers: who says this segment, one of the file's speakers.
  const names = Array.from(element.querySelectorAll('.speakers .who[data-speaker]'),
                           (b) => b.dataset.speaker);
  let pick = null;
  if (names.length && seg.dataset.speaker !== undefined) {
    pick = document.createElement('select');
    pick.className = 't-speaker';
    pick.setAttribute('aria-label', 'Speaker');
    for (const name of names) {
      const option = document.createElement('option');
      option.value = option.textContent = name;
      option.selected = name === seg.dataset.speaker;
      pick.append(option);
    }
    form.prepend(pick);
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const start = seconds(form.querySelector('.t-start').value);
    const end = seconds(form.querySelector('.t-end').value);
    const speaker = pick && pick.value !== seg.dataset.speaker ? pick.value : undefined;
    form.remove();
    send('times', {segment: +seg.dataset.id, start, end, speaker});
  });
  form.querySelector('.t-cancel').addEventListener('click', () => form.remove());
  seg.after(form);
  form.querySelector('.t-start').focus();
});
const count = () => {
  const form = element.querySelector('.find');
  if (!form) return;
  const find = form.querySelector('.find-text').value;
  const exact = form.querySelector('.find-case').checked;
  let n = 0;
  if (find) {
    const needle = exact ? find : find.toLowerCase();
    for (const t of element.querySelectorAll('.seg .text')) {
      const hay = exact ? t.textContent : t.textContent.toLowerCase();
      n += hay.split(needle).length - 1;
    }
  }
  form.querySelector('.found').textContent = find ? `${n} found` : '';
};
element.addEventListener('input', (event) => {
  if (event.target.closest && event.target.closest('.find')) count();
});
element.addEventListener('submit', (event) => {
  const form = event.target.closest('.find');
  if (!form) return;
  event.preventDefault();
  const find = form.querySelector('.find-text').value;
  if (!find) return;
  send('replace', {find, replace: form.querySelector('.replace-text').value,
                   match_case: form.querySelector('.find-case').checked});
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
.seg { margin: 0 0 4px; display: flex; gap: 10px; align-items: baseline; }
.text[contenteditable] { border-radius: 4px; padding: 0 2px; outline: none; cursor: text; }
.text[contenteditable]:hover { background: var(--background-fill-secondary); }
.text[contenteditable]:focus { background: var(--background-fill-secondary);
  box-shadow: 0 0 0 2px var(--color-accent); }
.seg.edited .text { text-decoration: underline dotted var(--color-accent);
  text-underline-offset: 3px; }
.restore { flex: none; font-size: var(--text-sm); padding: 0 6px; border-radius: 6px;
  cursor: pointer; border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.tools { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.tools button { font-size: var(--text-sm); padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.edits { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.find { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin: 0 0 6px;
  font-size: var(--text-sm); }
.find[hidden] { display: none; }
.find input[type=text], .find input:not([type]) { flex: 1 1 140px; min-width: 0; padding: 3px 6px;
  border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--block-background-fill); color: var(--body-text-color); font: inherit; }
.find button { padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.found { color: var(--body-text-color-subdued); }
.times { display: flex; gap: 6px; align-items: center; margin: 0 0 6px 60px;
  font-size: var(--text-sm); }
.times input { width: 7em; padding: 2px 6px; border-radius: 6px; font: inherit;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill);
  color: var(--body-text-color); }
.times button { padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.time { flex: none; color: var(--body-text-color-subdued); font: inherit; background: none;
  border: none; padding: 0 2px; border-radius: 4px; cursor: pointer; }
.time:hover, .time:focus-visible { color: var(--body-text-color); text-decoration: underline; }
.seg.playing { background: var(--color-accent-soft); border-radius: 4px; }
.seg.playing .time { color: var(--body-text-color); }
.text { overflow-wrap: anywhere; }
"""
