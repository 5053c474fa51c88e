"""The queue as a list of files that is also the navigator: pure HTML from job state.

Each file is a card: its name, a coloured status chip (queued #2 · ~0:08, running
43 % · 0:12 left, completed, completed · warning, failed, cancelled), why it failed or
what to know about it (the file ends early, no speech found), a progress bar while
it runs, and only the actions that apply to it. Above the cards, one line about the whole
batch, which also becomes the tab title. Everything a user or a file supplied (names,
error texts) is escaped here, in one place; the page's script (QUEUE_JS) only reads
`data-` attributes back.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass

from whisper_ui.domain import TERMINAL, JobStatus
from whisper_ui.ui.view import JobRow, clock, remaining

REASON_CHARS = 90


@dataclass(frozen=True)
class Chip:
    """A status as the card shows it: a colour class and the words."""

    kind: str
    text: str


def chip(row: JobRow, now: float, speed: float, slots: int) -> Chip:
    job = row.job
    left = remaining(row, now, speed, slots)
    if job.status is JobStatus.QUEUED:
        place = "" if row.position is None else f"#{row.position + 1}"
        # Never "~0:00" for a file that has not started: a second at least.
        wait = "" if left is None else f"~{clock(max(1.0, left))}"
        return Chip("queued", " · ".join(p for p in ("queued", place, wait) if p))
    if job.status is JobStatus.RUNNING and row.stage[0] == "speakers":
        return Chip("running", f"finding speakers {round(row.stage[1] * 100)} %")
    if job.status is JobStatus.RUNNING:
        pct = f"{round(row.progress * 100)} %"
        if row.progress <= 0 and left is None:
            return Chip("running", "starting")
        eta = "" if left is None else f" · {clock(max(1.0, left))} left"
        return Chip("running", f"running {pct}{eta}")
    if job.status is JobStatus.COMPLETED and job.warnings:
        return Chip("warning", "completed · warning")
    return Chip(job.status.value, job.status.value)


def _fit(text: str) -> str:
    """`text` cut to fit a card's line (the whole of it goes in the title)."""
    if len(text) > REASON_CHARS:
        return text[: REASON_CHARS - 1].rstrip() + "…"
    return text


def failure_reason(row: JobRow) -> str:
    """Why a failed job failed, without its own name in front, cut to fit a card."""
    job = row.job
    if job.status is not JobStatus.FAILED:
        return ""
    return _fit((job.error or "failed").removeprefix(job.name + ": "))


def warning_text(row: JobRow) -> str:
    """What to know about a job that completed anyway (its warnings, joined), or ""."""
    job = row.job
    if job.status is not JobStatus.COMPLETED or not job.warnings:
        return ""
    return "; ".join(job.warnings)


def can_retry(row: JobRow) -> bool:
    """Cancelled, or failed while running (out of memory, a model error): worth another
    go. A file refused before it started (not audio, no audio track) fails again."""
    job = row.job
    return job.status is JobStatus.CANCELLED or (
        job.status is JobStatus.FAILED and job.started_at is not None
    )


def _actions(row: JobRow) -> list[tuple[str, str]]:
    status = row.job.status
    found = []
    if status not in TERMINAL:
        found.append(("cancel", "Cancel"))
    if can_retry(row):
        found.append(("retry", "Retry"))
    if status in TERMINAL:
        found.append(("delete", "Delete"))
    return found


def _card(row: JobRow, selected: bool, now: float, speed: float, slots: int) -> str:
    job = row.job
    state = chip(row, now, speed, slots)
    name = html.escape(job.name, quote=True)
    meta = [clock(job.duration) if job.duration else "length unknown"]
    if job.device:
        meta.append(html.escape(job.device))
    if job.node:  # the cluster node it ran on (a host name: escaped)
        meta.append(f"on {html.escape(job.node)}")
    buttons = "".join(
        f'<button type="button" class="act {action}" data-action="{action}">{label}</button>'
        for action, label in _actions(row)
    )
    bar = ""
    reason = failure_reason(row)
    if reason:
        bar = f'<div class="reason">{html.escape(reason)}</div>'
    warning = warning_text(row)
    if warning:
        bar = (
            f'<div class="warn" title="{html.escape(warning, quote=True)}">'
            f"{html.escape(_fit(warning))}</div>"
        )
    if job.status is JobStatus.RUNNING:
        pct = max(2, min(100, round(row.progress * 100)))
        bar = f'<div class="bar" aria-hidden="true"><span style="width:{pct}%"></span></div>'
    current = ' aria-current="true"' if selected else ""
    return (
        f'<li class="card {state.kind}{" selected" if selected else ""}" data-job="{job.id}"'
        f' data-name="{name}" tabindex="0"{current}>'
        f'<div class="top"><span class="name" title="{name}">{name}</span>'
        f'<span class="chip {state.kind}">{html.escape(state.text)}</span></div>{bar}'
        f'<div class="bottom"><span class="meta">{" · ".join(meta)}</span>'
        f'<span class="actions">{buttons}</span></div></li>'
    )


def batch_line(rows: Sequence[JobRow], now: float, speed: float, slots: int) -> tuple[str, str]:
    """(the line above the cards, the tab title) for all of a person's files."""
    total = len(rows)
    done = sum(1 for r in rows if r.job.status in TERMINAL)
    audio_total = sum(r.job.duration for r in rows)
    audio_done = sum(
        r.job.duration * (1.0 if r.job.status in TERMINAL else r.progress) for r in rows
    )
    lefts = [remaining(r, now, speed, slots) for r in rows if r.job.status not in TERMINAL]
    parts = [f"{done} of {total} done", f"{clock(audio_done)} of {clock(audio_total)} audio"]
    known = [x for x in lefts if x is not None]
    if known:
        parts.append(f"about {clock(max(known))} left")
    failed = sum(1 for r in rows if r.job.status is JobStatus.FAILED)
    if failed:
        parts.append(f"{failed} failed")
    title = "whisper-ui" if done == total else f"({done}/{total}) whisper-ui"
    return " · ".join(parts), title


def sent_label(sent: float, now: float) -> str:
    """When a batch was sent, as a person says it: "Today 14:02", "Yesterday 09:10",
    "Mon 30 Nov 14:02" (the server's local time)."""
    day, today = time.localtime(sent), time.localtime(now)
    clock_part = time.strftime("%H:%M", day)
    if day[:3] == today[:3]:
        return f"Today {clock_part}"
    if time.localtime(now - 86400)[:3] == day[:3]:
        return f"Yesterday {clock_part}"
    return time.strftime(
        "%a %d %b %Y %H:%M" if day.tm_year != today.tm_year else "%a %d %b %H:%M", day
    )


def group_header(batch: str, members: Sequence[JobRow], now: float) -> str:
    """The line over one batch's cards (shown when the list holds several batches):
    when it was sent, its size, and "Delete batch" once every file of it has ended."""
    sent = min(m.job.created_at for m in members)
    count = f"{len(members)} {'file' if len(members) == 1 else 'files'}"
    label = f"{sent_label(sent, now)} · {count}"
    done = all(m.job.status in TERMINAL for m in members)
    button = (
        '<button type="button" class="act delete" data-action="delete-batch">Delete batch</button>'
        if done
        else ""
    )
    return (
        f'<li class="group" data-batch="{html.escape(batch, quote=True)}" '
        f'data-label="{html.escape(label, quote=True)}"><span>{html.escape(label)}</span>'
        f"{button}</li>"
    )


def queue_html(
    rows: Sequence[JobRow], selected: str | None, now: float, speed: float, slots: int
) -> str:
    """The whole list: batch line with "Cancel all" while anything is active, then cards."""
    if not rows:
        return (
            '<div class="empty" data-title="whisper-ui">No files yet. Add audio or video '
            "files and press <b>Transcribe</b>; each file shows here as it goes.</div>"
        )
    line, title = batch_line(rows, now, speed, slots)
    active = any(r.job.status not in TERMINAL for r in rows)
    cancel_all = (
        '<button type="button" class="act cancel" data-action="cancel-all">Cancel all</button>'
        if active
        else ""
    )
    batches = {r.job.batch_id or r.job.id for r in rows}
    parts, shown = [], None
    for r in rows:
        batch = r.job.batch_id or r.job.id
        if len(batches) > 1 and batch != shown:
            members = [m for m in rows if (m.job.batch_id or m.job.id) == batch]
            parts.append(group_header(batch, members, now))
            shown = batch
        parts.append(_card(r, r.job.id == selected, now, speed, slots))
    cards = "".join(parts)
    return (
        f'<div class="batch" data-title="{html.escape(title, quote=True)}"'
        f' data-active="{int(active)}"><span>{html.escape(line)}</span>{cancel_all}</div>'
        f'<ul class="cards" aria-label="Files">{cards}</ul>'
    )


# Clicks on the list go back to Python as the component's value: a JSON action.
QUEUE_JS = """
const act = (card, action, group) => {
  if (action === 'delete-batch') {
    if (!confirm(`Delete the ${group.dataset.label} batch: every file in it and its ` +
                 'transcripts? This cannot be undone.')) return;
    props.value = JSON.stringify({batch: group.dataset.batch, action, at: Date.now()});
    trigger('click');
    return;
  }
  if (action === 'delete' &&
      !confirm(`Delete “${card.dataset.name}” and its transcripts? This cannot be undone.`)) return;
  if (action === 'cancel-all' && !confirm('Cancel every file that is queued or running?')) return;
  props.value = JSON.stringify({job: card ? card.dataset.job : '', action, at: Date.now()});
  trigger('click');
};
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  const card = event.target.closest('[data-job]');
  if (button) act(card, button.dataset.action, event.target.closest('.group'));
  else if (card && !card.classList.contains('selected')) act(card, 'open');
});
element.addEventListener('keydown', (event) => {
  const card = event.target.closest('[data-job]');
  if (card && event.target === card && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    act(card, 'open');
  }
});
// The template re-renders on every update: keep the list where the person scrolled it,
// and until they do, keep the first running file in view.
let listTop = 0, scrolledAt = 0;
element.addEventListener('scroll', (event) => {
  if (event.target.classList && event.target.classList.contains('cards')) {
    listTop = event.target.scrollTop;
  }
}, true);
// What the person does to scroll (not the scroll events place() itself causes).
for (const kind of ['wheel', 'touchstart', 'pointerdown', 'keydown']) {
  element.addEventListener(kind, (event) => {
    if (event.target.closest && event.target.closest('.cards')) scrolledAt = Date.now();
  }, {capture: true, passive: true});
}
const place = () => {
  const list = element.querySelector('.cards');
  if (!list) return;
  list.scrollTop = listTop;
  const running = list.querySelector('.card.running');
  if (running && Date.now() - scrolledAt > 10000) {
    const card = running.getBoundingClientRect(), box = list.getBoundingClientRect();
    if (card.top < box.top || card.bottom > box.bottom) list.scrollTop += card.top - box.top;
  }
  listTop = list.scrollTop;
};
let wasActive = false;
const retitle = () => {
  place();
  const batch = element.querySelector('[data-title]');
  document.title = batch ? batch.dataset.title : 'whisper-ui';
  const active = !!(batch && batch.dataset.active === '1');
  if (wasActive && !active && 'Notification' in window && Notification.permission === 'granted'
      && document.hidden) {
    new Notification('whisper-ui', {body: 'All files are done.'});
  }
  wasActive = active;
};
watch('cards', retitle);
retitle();
"""

QUEUE_CSS = """
.group { display: flex; gap: 8px; align-items: center; justify-content: space-between;
  margin: 8px 0 0; padding: 2px 2px 0; font-size: var(--text-sm); font-weight: 600;
  color: var(--body-text-color-subdued); border-top: 1px solid var(--border-color-primary); }
.group:first-child { margin-top: 0; border-top: none; }
.batch { display: flex; gap: 8px; align-items: center; justify-content: space-between;
  flex-wrap: wrap; font-size: var(--text-sm); color: var(--body-text-color-subdued);
  margin-bottom: 6px; }
.empty { padding: 16px; border: 1px dashed var(--border-color-primary); border-radius: 8px;
  color: var(--body-text-color-subdued); }
.cards { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 6px;
  max-height: 46vh; overflow-y: auto; }
.card { border: 1px solid var(--border-color-primary); border-left-width: 4px; border-radius: 8px;
  padding: 8px 10px; cursor: pointer; background: var(--block-background-fill); }
.card:hover { background: var(--background-fill-secondary); }
.card:focus-visible { outline: 2px solid var(--color-accent); }
.card.selected { border-color: var(--color-accent); box-shadow: 0 0 0 1px var(--color-accent); }
.card.queued { border-left-color: #8a94a6; }
.card.running { border-left-color: #2f6fde; }
.card.completed { border-left-color: #1f9d55; }
.card.failed { border-left-color: #d93b3b; }
.card.cancelled { border-left-color: #c98a12; }
.card.warning { border-left-color: #e8890c; }
.top, .bottom { display: flex; gap: 8px; align-items: center; justify-content: space-between;
  min-width: 0; }
.bottom { margin-top: 4px; }
.name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  min-width: 0; }
.meta { font-size: var(--text-sm); color: var(--body-text-color-subdued); white-space: nowrap; }
.chip { flex: none; font-size: var(--text-sm); padding: 1px 8px; border-radius: 999px;
  white-space: nowrap; max-width: 60%; overflow: hidden; text-overflow: ellipsis; }
.chip.queued { background: #e7eaf0; color: #3a4354; }
.chip.running { background: #dde8fb; color: #1d4fa8; }
.chip.completed { background: #dcf3e5; color: #146c3a; }
.chip.failed { background: #fbe1e1; color: #a42323; }
.chip.cancelled { background: #f8ebcf; color: #7c5408; }
.chip.warning { background: #fde3c4; color: #8a4500; }
.reason { font-size: var(--text-sm); color: var(--error-text-color, #c02a2a); margin-top: 2px;
  overflow-wrap: anywhere; }
/* A fixed amber box, not a text colour: legible (6.8:1) on light and dark cards alike. */
.warn { font-size: var(--text-sm); color: #7a3d00; background: #fde3c4; border-radius: 4px;
  padding: 1px 6px; margin-top: 4px; overflow-wrap: anywhere; }
.bar { height: 4px; border-radius: 2px; background: var(--background-fill-secondary);
  margin-top: 6px; overflow: hidden; }
.bar span { display: block; height: 100%; background: #2f6fde; transition: width .4s; }
.actions { display: flex; gap: 4px; flex: none; }
.act { font-size: var(--text-sm); padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
.act:hover { background: var(--button-secondary-background-fill-hover); }
.act.delete:hover, .act.cancel:hover { border-color: #d93b3b; }
"""
