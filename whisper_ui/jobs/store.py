"""JobStore: every job, its options, status and each segment, written as it happens.

SQLite from the standard library in WAL mode: a segment is one small transaction, so a
crash (even `kill -9`) loses at most the segment being decoded, and a reader never sees
half a write. The dispatcher calls the store on the event loop thread, the only writer.
After a restart `load()` hands everything back: finished jobs with their transcripts,
queued ones to queue again, and running ones to resume after their last saved segment.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_ui.domain import (
    Job,
    JobStatus,
    Segment,
    TranscriptInfo,
    Voice,
    Word,
)
from whisper_ui.options import OPTIONS

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS info (
    job_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS speaker_names (
    job_id TEXT NOT NULL,
    label TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (job_id, label)
);
CREATE TABLE IF NOT EXISTS edits (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
);
"""


@dataclass(frozen=True)
class StoredJob:
    job: Job
    segments: tuple[Segment, ...]
    info: TranscriptInfo | None
    # The edit layer: segments as a person corrected them (the model's stay in segments).
    edits: tuple[Segment, ...] = ()
    # Names a person gave the speakers: the stage's label -> name.
    speaker_names: dict[str, str] = dataclasses.field(default_factory=dict)


def _job_to_json(job: Job) -> str:
    data = dataclasses.asdict(job)
    data["status"] = job.status.value
    return json.dumps(data, ensure_ascii=False)


def _job_from_json(text: str) -> Job:
    data: dict[str, Any] = json.loads(text)
    opts = OPTIONS.from_dict(data.pop("options"))
    data["status"] = JobStatus(data["status"])
    data["warnings"] = tuple(data.get("warnings") or ())  # JSON has lists; older rows none
    data["voices"] = tuple(Voice(**v) for v in data.get("voices") or ())
    fields = {f.name for f in dataclasses.fields(Job)}
    return Job(options=opts, **{k: v for k, v in data.items() if k in fields})


def _segment_from_json(text: str) -> Segment:
    data: dict[str, Any] = json.loads(text)
    words = tuple(Word(**w) for w in data.pop("words", ()))
    return Segment(words=words, **data)


class JobStore:
    """A small journal of jobs; one connection, used only from the event loop thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The loop thread is the only user; check_same_thread would only get in the way
        # of closing from a test's thread.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        self._seq = int(row[0])

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def save_job(self, job: Job) -> None:
        """Insert or update a job (its status, times, error, warnings); keeps its
        original order."""
        with self._tx() as db:
            updated = db.execute(
                "UPDATE jobs SET data = ? WHERE id = ?", (_job_to_json(job), job.id)
            ).rowcount
            if not updated:
                self._seq += 1
                db.execute(
                    "INSERT INTO jobs (id, seq, data) VALUES (?, ?, ?)",
                    (job.id, self._seq, _job_to_json(job)),
                )

    def add_segment(self, job_id: str, segment: Segment) -> None:
        data = json.dumps(dataclasses.asdict(segment), ensure_ascii=False)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO segments (job_id, idx, data) VALUES (?, ?, ?)",
                (job_id, segment.id, data),
            )

    def replace_segments(self, job_id: str, segments: Sequence[Segment]) -> None:
        """A job's segments anew, in one transaction (the speakers stage split them)."""
        rows = [
            (job_id, s.id, json.dumps(dataclasses.asdict(s), ensure_ascii=False)) for s in segments
        ]
        with self._tx() as db:
            db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
            db.executemany("INSERT INTO segments (job_id, idx, data) VALUES (?, ?, ?)", rows)

    def set_info(self, job_id: str, info: TranscriptInfo) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO info (job_id, data) VALUES (?, ?)",
                (job_id, json.dumps(dataclasses.asdict(info))),
            )

    def save_edit(self, job_id: str, segment: Segment) -> None:
        """A person's version of segment `segment.id`, beside the model's (kept as it was)."""
        data = json.dumps(dataclasses.asdict(segment), ensure_ascii=False)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO edits (job_id, idx, data) VALUES (?, ?, ?)",
                (job_id, segment.id, data),
            )

    def drop_edit(self, job_id: str, segment_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM edits WHERE job_id = ? AND idx = ?", (job_id, segment_id))

    def save_speaker_name(self, job_id: str, label: str, name: str | None) -> None:
        """Name a speaker of the job (None, or the label itself: the name is dropped)."""
        with self._tx() as db:
            db.execute("DELETE FROM speaker_names WHERE job_id = ? AND label = ?", (job_id, label))
            if name is not None and name != label:
                db.execute(
                    "INSERT INTO speaker_names (job_id, label, name) VALUES (?, ?, ?)",
                    (job_id, label, name),
                )

    def drop_edits(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM edits WHERE job_id = ?", (job_id,))

    def delete(self, job_id: str) -> None:
        with self._tx() as db:
            tables = (
                ("segments", "job_id"),
                ("info", "job_id"),
                ("edits", "job_id"),
                ("speaker_names", "job_id"),
            )
            for table, column in (*tables, ("jobs", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (job_id,))

    def load(self) -> list[StoredJob]:
        """Every stored job in submission order, with its segments in order."""
        segments: dict[str, list[Segment]] = {}
        for job_id, data in self._db.execute(
            "SELECT job_id, data FROM segments ORDER BY job_id, idx"
        ):
            segments.setdefault(job_id, []).append(_segment_from_json(data))
        edits: dict[str, list[Segment]] = {}
        for job_id, data in self._db.execute("SELECT job_id, data FROM edits ORDER BY job_id, idx"):
            edits.setdefault(job_id, []).append(_segment_from_json(data))
        names: dict[str, dict[str, str]] = {}
        for job_id, label, name in self._db.execute(
            "SELECT job_id, label, name FROM speaker_names"
        ):
            names.setdefault(job_id, {})[label] = name
        infos = {
            job_id: TranscriptInfo(**json.loads(data))
            for job_id, data in self._db.execute("SELECT job_id, data FROM info")
        }
        stored = []
        for (data,) in self._db.execute("SELECT data FROM jobs ORDER BY seq"):
            job = _job_from_json(data)
            stored.append(
                StoredJob(
                    job,
                    tuple(segments.get(job.id, ())),
                    infos.get(job.id),
                    tuple(edits.get(job.id, ())),
                    names.get(job.id, {}),
                )
            )
        return stored

    def close(self) -> None:
        self._db.close()
