"""Pure pieces of the page shared by its views: times, estimates, the resources panel,
and Markdown escaping for the status line.

Kept free of Gradio so it can be tested with plain values; the handlers in
`whisper_ui.ui.app` only gather state and pass it through these functions (the file
list is `queue_view`, the transcript `transcript_view`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whisper_ui.domain import Job, JobStatus

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


@dataclass(frozen=True)
class JobRow:
    """What the queue table needs of one job, gathered from the dispatcher and queue."""

    job: Job
    progress: float
    position: int | None
    audio_ahead_s: float
    # ("speakers", fraction) while the stage after the transcript runs
    stage: tuple[str, float] = ("transcribing", 0.0)


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


def _gib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**30:.1f} GiB"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def resources_markdown(status: Mapping[str, Any]) -> str:
    """The resources panel in words a person reads: where transcription runs, how busy
    it is, what is loaded. Library errors (e.g. why NVML is missing) stay in the API's
    /api/resources; here a missing GPU is just "No GPU found". With a cluster (a
    "nodes" list), the jobs run on its nodes, not here: each node is listed instead."""
    if status.get("nodes") is not None:
        return _cluster_markdown(status["nodes"], status["queue"])
    devices = status["devices"]
    gpus = [d for d in devices if d["kind"] != "cpu"]
    cpu = next((d for d in devices if d["kind"] == "cpu"), None)
    lines = []
    if not gpus:
        cores = cpu.get("physical_cores") if cpu else None
        where = f"on {_plural(int(cores), 'CPU core')}" if cores else "on the CPU"
        lines.append(f"**No GPU found:** transcribing {where}.")
    unusable = status["pool"].get("unusable") or {}
    for d in gpus:
        util = "" if d.get("utilization_pct") is None else f", {d['utilization_pct']:.0f} % busy"
        temp = "" if d.get("temperature_c") is None else f", {d['temperature_c']:.0f} °C"
        broken = (
            " · **not used:** CTranslate2 could not run on it, so files go to the CPU "
            '(why: /api/resources; what to install: README "GPUs")'
            if d["id"] in unusable
            else ""
        )
        lines.append(
            f"**{escape_md(str(d['id']))}** · {escape_md(str(d['name']))}: "
            f"{_gib(d['free_bytes'])} free of {_gib(d['total_bytes'])}{util}{temp}{broken}"
        )
    if cpu is not None:
        lines.append(
            f"**Memory:** {_gib(cpu['free_bytes'])} free of {_gib(cpu['total_bytes'])} "
            f"({cpu['name']})"
        )
    pool = status["pool"]
    queue = status["queue"]
    slots = int(pool["slots"])
    lines.append(
        f"**Now:** {pool['busy']} of {_plural(slots, 'file')} at a time busy · "
        f"{queue['running']} running, {queue['queued']} waiting"
    )
    loaded = ", ".join(
        f"{i['model']} on {i['device']} ({i['compute_type']}, {i['busy']}/{i['workers']} busy)"
        for i in pool["instances"]
    )
    lines.append(f"**Models loaded:** {loaded or 'none yet (loaded on first use)'}")
    # Blank lines between: in Markdown, single newlines run these into one paragraph.
    return "\n\n".join(lines)


def _device_words(d: Mapping[str, Any]) -> str:
    free = f"{_gib(d.get('free_bytes'))} free of {_gib(d.get('total_bytes'))}"
    if d.get("kind") == "cpu":
        cores = d.get("physical_cores")
        count = f"{_plural(int(cores), 'core')}, " if cores else ""
        return f"CPU ({escape_md(str(d.get('name', '')))}): {count}{free}"
    return f"{escape_md(str(d.get('id', '')))} · {escape_md(str(d.get('name', '')))}: {free}"


def _cluster_markdown(nodes: Sequence[Mapping[str, Any]], queue: Mapping[str, Any]) -> str:
    """Every node of the cluster with its devices, free memory, slots and loaded models.
    Node names come from host names and model names from requests: both are escaped."""
    slots = sum(int(n.get("slots", 0)) for n in nodes)
    busy = sum(int(n.get("busy", 0)) for n in nodes)
    lines = [
        f"**Cluster:** {_plural(len(nodes), 'node')} · {busy} of "
        f"{_plural(slots, 'file')} at a time busy · "
        f"{queue['running']} running, {queue['queued']} waiting"
    ]
    if not nodes:
        lines.append("No node can run jobs now.")
    for node in nodes:
        name = escape_md(str(node.get("name", "node")))
        state = "" if node.get("alive", True) else " (not answering)"
        parts = [_device_words(d) for d in node.get("devices", [])]
        parts.append(f"{node.get('busy', 0)} of {_plural(int(node.get('slots', 0)), 'slot')} busy")
        loaded = ", ".join(
            f"{escape_md(str(i['model']))} on {escape_md(str(i['device']))}"
            for i in node.get("pool", {}).get("instances", [])
        )
        parts.append(f"loaded: {loaded or 'none yet'}")
        failed = node.get("failed_models") or {}
        if failed:
            parts.append("failed to load: " + ", ".join(escape_md(str(m)) for m in failed))
        lines.append(f"**{name}**{state}: " + " · ".join(parts))
    return "\n\n".join(lines)
