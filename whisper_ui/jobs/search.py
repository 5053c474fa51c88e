"""Full-text search over every transcript a person has: SQLite FTS5, kept up to date.

The index is a copy, never a record: an in-memory FTS5 table filled from the registry
at start (which the journal restored) and then from the bus, a row per segment as it
is decoded (SegmentAdded) and again when a person corrects it (SegmentEdited), gone
with its job. So it cannot disagree with the journal after a crash, and costs no disk.
Rows carry their owner; every query filters on it, so another person's transcripts are
never found.

People type words, "a phrase" and prefix* queries, not FTS5 syntax: `fts_query` turns
what they type into an expression of quoted terms (their own AND/OR/NEAR/column:
syntax is searched as words), so a query can be refused only for a reason a person
can fix (empty, too long, an unclosed quote): `SearchError`, a 400 at the API.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from whisper_ui.domain import Job, JobEvent, SegmentAdded, SegmentEdited, SpeakersFound
from whisper_ui.jobs.registry import JobRegistry

MAX_QUERY_CHARS = 200
MAX_TERMS = 16
MAX_RESULTS = 200
SNIPPET_TOKENS = 12  # words around the hit in a result
_OPEN, _CLOSE = "\x02", "\x03"  # snippet markers no transcript text contains (stripped)
_TOKENS = re.compile(r'"[^"]*"|[^\s"]+|"')


class SearchError(ValueError):
    """A query that cannot be searched, with a reason a person can act on."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hit:
    """One segment that matches: where it is, and the words around the match.

    `snippet` is plain text; `marks` are (start, end) offsets of the matched words in it.
    """

    job_id: str
    name: str
    segment: int
    start: float
    end: float
    snippet: str
    marks: tuple[tuple[int, int], ...]
    created_at: float


def fts_query(text: str) -> str:
    """An FTS5 expression for what a person typed: every word must occur, "quoted words"
    in that order, and a word ending in * as a prefix. Raises SearchError."""
    text = text.strip()
    if not text:
        raise SearchError("type a word to search for", "empty_query")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(
            f"the query is {len(text)} characters; at most {MAX_QUERY_CHARS}", "query_too_long"
        )
    terms = []
    for token in _TOKENS.findall(text):
        if token == '"':
            raise SearchError('a quote is not closed: close the phrase with "', "unclosed_quote")
        phrase = token.startswith('"')
        inner = token[1:-1] if phrase else token
        prefix = not phrase and inner.endswith("*")
        words = _words(inner.rstrip("*") if prefix else inner)
        if not words:
            continue
        quoted = '"' + " ".join(words) + '"'
        terms.append(quoted + ("*" if prefix else ""))
    if not terms:
        raise SearchError("the query has no words to search for", "empty_query")
    if len(terms) > MAX_TERMS:
        raise SearchError(f"at most {MAX_TERMS} words or phrases at once", "too_many_terms")
    return " ".join(terms)


def _words(text: str) -> list[str]:
    """The words FTS5's unicode61 tokenizer would see (letters and digits)."""
    return re.findall(r"\w+", text)


def marked(snippet: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A snippet with markers -> (plain text, offsets of what was marked)."""
    plain: list[str] = []
    marks: list[tuple[int, int]] = []
    at = 0
    start = None
    for part in re.split(f"([{_OPEN}{_CLOSE}])", snippet):
        if part == _OPEN:
            start = at
        elif part == _CLOSE:
            if start is not None and at > start:
                marks.append((start, at))
            start = None
        else:
            plain.append(part)
            at += len(part)
    return "".join(plain), tuple(marks)


class SearchIndex:
    """The FTS5 table and the listener that keeps it current (on the loop thread;
    `search` may run in any thread: one connection, one lock)."""

    def __init__(self, registry: JobRegistry) -> None:
        self.registry = registry
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE VIRTUAL TABLE segments USING fts5(text, job_id UNINDEXED, "
                "owner UNINDEXED, seg UNINDEXED, start UNINDEXED, end UNINDEXED, "
                "tokenize = 'unicode61 remove_diacritics 2')"
            )

    def rebuild(self) -> None:
        """Index every job the registry holds, with its corrections (after a restart)."""
        with self._lock:
            self._db.execute("DELETE FROM segments")
        for job in self.registry.jobs():
            self.reindex(job.id)

    def reindex(self, job_id: str) -> None:
        """Replace a job's rows with what its transcript says now."""
        job = self.registry.get(job_id)
        transcript = self.registry.transcript(job_id) if job is not None else None
        with self._lock, self._db:
            self._db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
            if job is None or transcript is None:
                return
            self._db.executemany(
                "INSERT INTO segments (text, job_id, owner, seg, start, end) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (s.text.strip(), job.id, job.submitter, s.id, s.start, s.end)
                    for s in transcript.segments
                    if s.text.strip()
                ],
            )

    def on_event(self, event: JobEvent) -> None:
        """The bus listener: a decoded segment is added, a corrected one replaced."""
        if isinstance(event, SegmentAdded):
            job = self.registry.get(event.job_id)
            text = event.segment.text.strip()
            if job is None or not text:
                return
            self._put(job, event.segment.id, text, event.segment.start, event.segment.end)
        elif isinstance(event, SpeakersFound):  # the transcript was split anew
            self.reindex(event.job_id)
        elif isinstance(event, SegmentEdited):
            job = self.registry.get(event.job_id)
            if job is not None:
                s = event.segment
                self._put(job, s.id, s.text.strip(), s.start, s.end)

    def forget(self, job_id: str) -> None:
        """The job was deleted: its words are found no more."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))

    def _put(self, job: Job, seg: int, text: str, start: float, end: float) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM segments WHERE job_id = ? AND seg = ?", (job.id, seg))
            if text:
                self._db.execute(
                    "INSERT INTO segments (text, job_id, owner, seg, start, end) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (text, job.id, job.submitter, seg, start, end),
                )

    def search(self, owner: str, query: str, limit: int = 50) -> list[Hit]:
        """`owner`'s segments matching `query`: files in the order of their best match,
        a file's hits in the order they are said. Raises SearchError for a query that
        cannot be searched. Rows of jobs deleted since are dropped here (deleting a job
        has no event; the registry is the truth)."""
        expression = fts_query(query)
        limit = max(1, min(limit, MAX_RESULTS))
        with self._lock:
            rows = self._db.execute(
                f"SELECT job_id, seg, start, end, snippet(segments, 0, '{_OPEN}', "
                f"'{_CLOSE}', '…', {SNIPPET_TOKENS}) FROM segments "
                "WHERE segments MATCH ? AND owner = ? ORDER BY rank LIMIT ?",
                (expression, owner, limit * 4),
            ).fetchall()
        hits = []
        gone = set()
        for job_id, seg, start, end, snippet in rows:
            job = self.registry.get(job_id)
            if job is None or job.submitter != owner:
                if job is None:
                    gone.add(job_id)
                continue  # deleted (its rows go now), or not theirs: never shown
            text, marks = marked(snippet)
            hits.append(
                Hit(job.id, job.name, int(seg), float(start), float(end), text, marks,
                    job.created_at)
            )  # fmt: skip
        for job_id in gone:
            self.forget(job_id)
        return _ordered(hits)[:limit]


def _ordered(hits: Sequence[Hit]) -> list[Hit]:
    """Keep FTS5's rank between files, but a file's hits in the order they are said."""
    first: dict[str, int] = {}
    for i, hit in enumerate(hits):
        first.setdefault(hit.job_id, i)
    return sorted(hits, key=lambda h: (first[h.job_id], h.start))
