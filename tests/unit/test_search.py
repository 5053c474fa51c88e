"""jobs/search.py: what a person types becomes a safe FTS5 query, and the index finds
only the owner's words, follows corrections and forgets deleted jobs."""

from __future__ import annotations

import pytest

from whisper_ui.domain import (
    Job,
    JobStatus,
    Segment,
    SegmentAdded,
    SegmentEdited,
    TranscribeOptions,
)
from whisper_ui.jobs.registry import JobRegistry
from whisper_ui.jobs.search import MAX_QUERY_CHARS, SearchError, SearchIndex, fts_query, marked


@pytest.mark.parametrize(
    ("typed", "expression"),
    [
        ("church", '"church"'),
        ("red  car", '"red" "car"'),
        ('"lazy dog" weath*', '"lazy dog" "weath"*'),
        # FTS5's own syntax is searched as words; a word with punctuation inside is
        # the phrase the tokenizer makes of it
        ("NEAR(a b) OR c AND d", '"NEAR a" "b" "OR" "c" "AND" "d"'),
        ("text:foo -bar ^baz", '"text foo" "bar" "baz"'),
        ("l'été", '"l été"'),
        ('"" hello', '"hello"'),
    ],
)
def test_typed_words_become_quoted_terms(typed: str, expression: str) -> None:
    assert fts_query(typed) == expression


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "empty_query"),
        ("   ", "empty_query"),
        ("?!* --", "empty_query"),
        ('"lazy dog', "unclosed_quote"),
        ("x" * (MAX_QUERY_CHARS + 1), "query_too_long"),
        (" ".join(f"w{i}" for i in range(17)), "too_many_terms"),
    ],
)
def test_queries_that_cannot_be_searched_say_why(typed: str, code: str) -> None:
    with pytest.raises(SearchError) as caught:
        fts_query(typed)
    assert caught.value.code == code and str(caught.value)


def test_marked_snippets_give_plain_text_and_offsets() -> None:
    text, marks = marked("…the \x02lazy\x03 \x02dog\x03 sleeps")
    assert text == "…the lazy dog sleeps"
    assert [text[a:b] for a, b in marks] == ["lazy", "dog"]


def job(job_id: str, owner: str, name: str) -> Job:
    return Job(job_id, f"/{name}", name, TranscribeOptions(), 10.0, submitter=owner,
               status=JobStatus.COMPLETED, created_at=1.0)  # fmt: skip


def index_with() -> tuple[JobRegistry, SearchIndex]:
    registry = JobRegistry()
    registry.add(job("a", "alice", "talk.wav"), [
        Segment(0, 0.0, 4.0, " The red car is parked."),
        Segment(1, 4.0, 9.0, " Next to the old church in Zürich."),
    ])  # fmt: skip
    registry.add(job("b", "bob", "bob.wav"), [Segment(0, 0.0, 3.0, " The old church bell.")])
    index = SearchIndex(registry)
    index.rebuild()
    return registry, index


def test_only_the_owners_transcripts_are_found() -> None:
    _, index = index_with()
    (hit,) = index.search("alice", "church")
    assert (hit.job_id, hit.name, hit.segment, hit.start) == ("a", "talk.wav", 1, 4.0)
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["church"]
    assert [h.job_id for h in index.search("bob", "church")] == ["b"]
    assert index.search("carol", "church") == []
    assert index.search("alice", "zurich")  # diacritics folded
    assert [h.segment for h in index.search("alice", "par*")] == [0]
    assert index.search("alice", '"church old"') == []  # a phrase keeps its order
    assert index.search("alice", "red church") == []  # every word, in one segment


def test_new_segments_and_corrections_are_found_and_deleted_jobs_are_not() -> None:
    registry, index = index_with()
    added = Segment(2, 9.0, 12.0, " A blue bicycle.")
    registry.add_segment("a", added)
    index.on_event(SegmentAdded("a", added))
    assert [h.segment for h in index.search("alice", "bicycle")] == [2]
    fixed = Segment(0, 0.0, 4.0, " The red tram is parked.")
    original = registry.segments("a")[0]
    index.on_event(SegmentEdited("a", fixed, original, True, 1))
    assert index.search("alice", "car") == []
    assert [h.segment for h in index.search("alice", "tram")] == [0]
    registry.forget("a")
    assert index.search("alice", "tram") == []
