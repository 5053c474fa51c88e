"""Pure rendering of job state for the UI: queue rows, transcript text, resources panel.

Kept free of Gradio so it can be tested with plain values; the handlers in
`whisper_ui.ui.app` only gather state and pass it through these functions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whisper_ui.domain import Job, JobStatus, Segment

# Short headers: eight columns share about half the page.
QUEUE_HEADERS = ["File", "Length", "Status", "Progress", "Place", "Elapsed", "Left", "Device"]

REASON_CHARS = 80
# Until a job has finished on this machine, assume tiny.en-on-CPU speed (measured ~8x).
DEFAULT_SPEED = 8.0


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_md(text: str) -> str:
    """`text` (a file name, an error naming one) shown literally in a Markdown status:
    HTML is escaped and Markdown's special characters are backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def clock(seconds: float | None) -> str:
    """m:ss or h:mm:ss; an em dash for unknown."""
    if seconds is None or seconds < 0:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def stamp(seconds: float) -> str:
    """A transcript timestamp: [mm:ss.s] or [h:mm:ss.s]."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:04.1f}"
    return f"{minutes:02d}:{secs:04.1f}"


def transcript_text(segments: Sequence[Segment]) -> str:
    """One line per segment with its time span, as the transcript box shows it."""
    return "\n".join(
        f"[{stamp(s.start)} → {stamp(s.end)}] {s.text.strip()}" for s in segments if s.text.strip()
    )


@dataclass(frozen=True)
class JobRow:
    """What the queue table needs of one job, gathered from the dispatcher and queue."""

    job: Job
    progress: float
    position: int | None
    audio_ahead_s: float


def speed_estimate(jobs: Sequence[Job]) -> float:
    """Audio seconds per wall second of one slot, from jobs that finished here."""
    done = [
        j
        for j in jobs
        if j.status is JobStatus.COMPLETED and j.started_at and j.finished_at and j.duration
    ]
    if not done:
        return DEFAULT_SPEED
    audio = sum(j.duration for j in done)
    wall = sum(max(0.05, (j.finished_at or 0) - (j.started_at or 0)) for j in done)
    return max(0.1, audio / wall)


def remaining(row: JobRow, now: float, speed: float, slots: int) -> float | None:
    """Seconds until the job should be done: from its own pace while running, else by queue."""
    job = row.job
    if job.status is JobStatus.RUNNING and job.started_at:
        elapsed = now - job.started_at
        if row.progress >= 0.05:
            return elapsed * (1 - row.progress) / row.progress
        return max(0.0, job.duration / speed - elapsed)
    if job.status is JobStatus.QUEUED:
        return (row.audio_ahead_s / max(1, slots) + job.duration) / speed
    return None


def queue_rows(rows: Sequence[JobRow], now: float, speed: float, slots: int) -> list[list[Any]]:
    """The queue table: one row per job, newest submissions last."""
    table: list[list[Any]] = []
    for row in rows:
        job = row.job
        status = job.status.value
        if job.status is JobStatus.FAILED and job.error:
            reason = job.error.removeprefix(job.name + ": ")
            if len(reason) > REASON_CHARS:  # the whole text shows in the transcript box
                reason = reason[: REASON_CHARS - 1].rstrip() + "…"
            status = f"failed: {reason}"
        elapsed: float | None = None
        if job.started_at:
            elapsed = (job.finished_at or now) - job.started_at
        left = remaining(row, now, speed, slots)
        table.append(
            [
                job.name,
                clock(job.duration) if job.duration else "—",
                status,
                f"{round(row.progress * 100)}%",
                "" if row.position is None else str(row.position + 1),
                clock(elapsed),
                "" if left is None else f"~{clock(left)}",
                job.device or "",
            ]
        )
    return table


def _gib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**30:.1f} GiB"


def resources_markdown(status: Mapping[str, Any]) -> str:
    """The resources panel: devices, then the pool and the queue."""
    lines = ["| Device | Free / total memory | Busy | Temperature |", "|---|---|---|---|"]
    for d in status["devices"]:
        name = f"{d['id']} · {d['name']}"
        if d["kind"] == "cpu" and d.get("physical_cores"):
            name += f" ({d['physical_cores']} cores)"
        util = "—" if d.get("utilization_pct") is None else f"{d['utilization_pct']:.0f}%"
        temp = "—" if d.get("temperature_c") is None else f"{d['temperature_c']:.0f} °C"
        lines.append(
            f"| {name} | {_gib(d['free_bytes'])} / {_gib(d['total_bytes'])} | {util} | {temp} |"
        )
    pool = status["pool"]
    queue = status["queue"]
    instances = pool["instances"]
    loaded = ", ".join(
        f"{i['model']} on {i['device']} ({i['compute_type']}, {i['busy']}/{i['workers']} busy)"
        for i in instances
    )
    lines.append("")
    lines.append(
        f"**Pool:** {pool['slots']} slot(s), {pool['busy']} busy, {pool['idle']} idle · "
        f"**Queue:** {queue['queued']} waiting, {queue['running']} running"
    )
    # Blank lines between: in Markdown, single newlines run these into one paragraph.
    lines.append("")
    lines.append(f"**Models loaded:** {loaded or 'none (loaded on first use)'}")
    if status.get("gpu_note"):
        lines.append("")
        lines.append(f"*No GPU: {status['gpu_note']}*")
    return "\n".join(lines)
