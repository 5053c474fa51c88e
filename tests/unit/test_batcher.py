"""Batcher scheduling with a fake model: grouping, routing, order, fairness, cancel, errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from whisper_ui.domain import TranscribeOptions
from whisper_ui.engine.batcher import Batcher, BatchSettings, group_key, split_at_timestamps
from whisper_ui.engine.errors import TranscriptionCancelled


class FakeRun:
    """Records every call; echoes payloads back tagged with the batch's context."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[Any, list[Any]]] = []
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, context: Any, payloads: Sequence[Any]) -> list[Any]:
        if self.gate is not None:
            assert self.gate.wait(5)
        with self.lock:
            self.calls.append((context, list(payloads)))
        return [(context, p) for p in payloads]


def settings(**kw: Any) -> BatchSettings:
    base: dict[str, Any] = {"max_batch_size": 4, "max_wait_ms": 50.0, "batch_threads": 1}
    base.update(kw)
    return BatchSettings(**base)


def test_chunks_of_several_jobs_share_one_call_and_results_route_back() -> None:
    run = FakeRun()
    b = Batcher(run, settings(max_batch_size=4, max_wait_ms=200))
    tickets = [b.submit(job, "k", "ctx", f"{job}{i}") for job in "ab" for i in range(2)]
    for t in tickets:
        assert t.wait(5)
    assert len(run.calls) == 1 and len(run.calls[0][1]) == 4
    assert [t.result() for t in tickets] == [("ctx", f"{j}{i}") for j in "ab" for i in range(2)]


def test_incompatible_options_are_never_mixed() -> None:
    run = FakeRun()
    b = Batcher(run, settings(max_batch_size=8, max_wait_ms=30))
    tickets = [b.submit(f"j{i}", ("beam", i % 2), i % 2, i) for i in range(6)]
    for t in tickets:
        assert t.wait(5)
    for context, payloads in run.calls:
        assert {p % 2 for p in payloads} == {context}
    beam5 = TranscribeOptions(beam_size=5)
    assert group_key(1, beam5, "en") != group_key(1, TranscribeOptions(beam_size=1), "en")
    assert group_key(1, beam5, "en") != group_key(2, beam5, "en")  # another model instance
    assert group_key(1, beam5, "en") == group_key(1, TranscribeOptions(beam_size=5), "en")


def test_a_new_jobs_first_chunk_goes_before_a_long_jobs_backlog() -> None:
    gate = threading.Event()
    run = FakeRun(gate)
    b = Batcher(run, settings(max_batch_size=2, max_wait_ms=0))
    long_job = [b.submit("long", "k", None, f"L{i}") for i in range(6)]
    # the runner is blocked on its first batch (L0, L1); a new job arrives meanwhile
    new = b.submit("new", "k", None, "N0")
    gate.set()
    assert new.wait(5) and all(t.wait(5) for t in long_job)
    # N0 rides in the first batch the runner forms after it arrived, ahead of L2..L5
    batch_of_n0 = next(i for i, (_, payloads) in enumerate(run.calls) if "N0" in payloads)
    assert batch_of_n0 <= 1, run.calls
    later = [p for _, payloads in run.calls[batch_of_n0 + 1 :] for p in payloads]
    assert {"L4", "L5"} <= set(later)


def test_a_job_s_chunks_keep_their_order_across_batches() -> None:
    run = FakeRun()
    b = Batcher(run, settings(max_batch_size=3, max_wait_ms=0, batch_threads=2))
    tickets = [b.submit("a", "k", None, i) for i in range(10)]
    assert [t.result() for t in tickets if t.wait(5)] == [(None, i) for i in range(10)]
    order = [p for _, payloads in sorted(run.calls, key=lambda c: c[1][0]) for p in payloads]
    assert order == list(range(10))


def test_forget_drops_a_cancelled_jobs_waiting_chunks() -> None:
    gate = threading.Event()
    run = FakeRun(gate)
    b = Batcher(run, settings(max_batch_size=1, max_wait_ms=0))
    first = b.submit("a", "k", None, 0)
    rest = [b.submit("a", "k", None, i) for i in range(1, 4)]
    other = b.submit("b", "k", None, "b0")
    b.forget("a")
    gate.set()
    assert first.wait(5) and other.wait(5)
    for t in rest:
        assert t.wait(5)
        with pytest.raises(TranscriptionCancelled):
            t.result()
    ran = [p for _, payloads in run.calls for p in payloads]
    assert 1 not in ran and 2 not in ran and "b0" in ran


def test_an_error_fails_every_chunk_of_that_batch_only() -> None:
    def run(context: Any, payloads: Sequence[Any]) -> list[Any]:
        if "bad" in payloads:
            raise MemoryError("out of memory")
        return list(payloads)

    b = Batcher(run, settings(max_batch_size=2, max_wait_ms=100))
    bad = [b.submit("x", "k", None, "bad"), b.submit("y", "k", None, "ok")]
    for t in bad:
        assert t.wait(5)
        with pytest.raises(MemoryError):
            t.result()
    good = b.submit("z", "k", None, "fine")
    assert good.wait(5) and good.result() == "fine"


def test_a_lone_chunk_waits_at_most_max_wait() -> None:
    import time

    run = FakeRun()
    b = Batcher(run, settings(max_batch_size=8, max_wait_ms=30))
    start = time.monotonic()
    t = b.submit("solo", "k", None, 1)
    assert t.wait(5)
    assert time.monotonic() - start < 1.0


def test_the_planner_counts_a_batchs_working_memory() -> None:
    from whisper_ui.engine.planner import estimate_footprint

    one = estimate_footprint(39_000_000, "int8", "cpu", beam_size=5)
    sizes = [
        estimate_footprint(39_000_000, "int8", "cpu", beam_size=5, batch_size=b).worker_bytes
        for b in (2, 4, 8, 16)
    ]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4, "grows with the batch"
    assert sizes[-1] > one.worker_bytes
    weights = estimate_footprint(39_000_000, "int8", "cpu", batch_size=8).weights_bytes
    assert weights == one.weights_bytes, "weights are loaded once whatever the batch"


def test_a_continuation_submitted_in_front_runs_before_the_jobs_later_chunks() -> None:
    gate = threading.Event()
    run = FakeRun(gate)
    b = Batcher(run, settings(max_batch_size=1, max_wait_ms=0))
    first = b.submit("a", "k", None, "c0")  # the runner takes it and blocks on the gate
    later = [b.submit("a", "k", None, f"c{i}") for i in (1, 2)]
    again = b.submit("a", "k", None, "c0-rest", front=True)
    gate.set()
    assert all(t.wait(5) for t in (first, again, *later))
    order = [payloads[0] for _, payloads in run.calls]
    assert order.index("c0-rest") < order.index("c1") < order.index("c2"), order


# Token ids as faster-whisper's tokenizer numbers them: text < TS <= timestamps (0.02 s each).
TS = 1000


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def test_split_cuts_at_timestamp_pairs_and_ends_on_a_single_timestamp() -> None:
    tokens = [ts(0), 1, 2, ts(2.5), ts(2.5), 3, ts(4.0)]  # two segments, closed at the end
    segments, resume_at = split_at_timestamps(tokens, TS, 0.02, duration=6.0)
    assert [(s, e, t) for s, e, t in segments] == [
        (0.0, 2.5, [ts(0), 1, 2, ts(2.5)]),
        (2.5, 4.0, [ts(2.5), 3, ts(4.0)]),
    ]
    assert resume_at is None  # a single timestamp at the end: nothing left to decode


def test_split_says_where_to_go_on_when_the_model_stopped_before_the_chunks_end() -> None:
    # "<0> a b <3><3>" then end of text: the model left 3.0 s .. the end undecoded
    # (BatchedInferencePipeline.forward loses what follows; sequential decoding seeks).
    segments, resume_at = split_at_timestamps([ts(0), 1, 2, ts(3), ts(3)], TS, 0.02, 9.0)
    assert [(s, e) for s, e, _ in segments] == [(0.0, 3.0)]
    assert resume_at == pytest.approx(3.0)
    # an unfinished segment after the last pair is dropped: the continuation re-decodes it
    segments, resume_at = split_at_timestamps([ts(0), 1, ts(3), ts(3), 7, 8], TS, 0.02, 9.0)
    assert [t for _, _, t in segments] == [[ts(0), 1, ts(3)]] and resume_at == pytest.approx(3.0)


def test_split_without_timestamp_pairs_is_one_segment_to_the_last_timestamp_or_the_end() -> None:
    assert split_at_timestamps([ts(0), 1, 2, ts(5)], TS, 0.02, 9.0) == (
        [(0.0, 5.0, [ts(0), 1, 2, ts(5)])],
        None,
    )
    assert split_at_timestamps([1, 2], TS, 0.02, 9.0) == ([(0.0, 9.0, [1, 2])], None)
    assert split_at_timestamps([], TS, 0.02, 9.0) == ([(0.0, 9.0, [])], None)


# ---- temperature fallback, batched: a fake CTranslate2 model ------------------------------


class FakeTokenizer:
    eot = 10_000

    def decode(self, tokens: list[int]) -> str:
        return " ".join(f"w{t}" for t in tokens)

    def encode(self, text: str) -> list[int]:
        return [len(text)]


class FakeWhisper:
    """encode() passes features through; generate() answers per (chunk id, temperature)."""

    max_length = 448
    time_precision = 0.02

    def __init__(self, answers: dict[tuple[int, float], tuple[list[int], float]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[int], float]] = []
        self.model = self

    def encode(self, features: Any) -> Any:
        return features

    def get_prompt(
        self, tokenizer: Any, previous: list[int], without_timestamps: bool
    ) -> list[int]:
        return [1, 2, 3]

    def generate(self, encoder_output: Any, prompts: list[list[int]], **kw: Any) -> list[Any]:
        from types import SimpleNamespace

        temperature = kw.get("sampling_temperature", 0.0) if kw["beam_size"] == 1 else 0.0
        chunk_ids = [int(row[0]) for row in encoder_output]
        self.calls.append((chunk_ids, temperature))
        out = []
        for cid in chunk_ids:
            tokens, score = self.answers.get((cid, temperature), (list(range(1, 30)), -0.2))
            out.append(SimpleNamespace(sequences_ids=[tokens], scores=[score], no_speech_prob=0.01))
        return out


def _fw_opts() -> Any:
    from whisper_ui.engine.batcher import _fw_options

    class Tok(FakeTokenizer):
        def __init__(self) -> None:
            self.tokenizer = self

    with pytest.MonkeyPatch.context() as mp:
        import faster_whisper.transcribe as ft

        mp.setattr(ft, "get_suppressed_tokens", lambda tokenizer, tokens: [-1])
        return _fw_options(None, TranscribeOptions(beam_size=5), Tok())


def test_only_chunks_that_fail_whispers_checks_go_down_the_temperature_ladder() -> None:
    import numpy as np

    from whisper_ui.engine.batcher import _decode_with_fallback

    loop = [7] * 200  # "w7 w7 w7 ...": far above the compression-ratio threshold
    model = FakeWhisper(
        {
            (1, 0.0): (loop, -0.1),  # repetitive at 0, fine at 0.2
            (2, 0.0): (list(range(1, 30)), -1.5),  # unsure at 0 ...
            (2, 0.2): (list(range(1, 30)), -1.4),
            (2, 0.4): (list(range(1, 9)), -1.2),  # ... and at every temperature
            (2, 0.6): (loop, -0.1),  # repetitive: never picked, however confident
            (2, 0.8): (list(range(1, 30)), -1.3),
            (2, 1.0): (list(range(1, 30)), -2.0),
        }
    )
    features = np.array([[0.0], [1.0], [2.0]])  # chunk ids 0, 1, 2
    _, decoded = _decode_with_fallback(model, FakeTokenizer(), _fw_opts(), features)
    assert model.calls[0] == ([0, 1, 2], 0.0)  # every chunk once, together
    assert model.calls[1] == ([1, 2], 0.2)  # the two that failed, together
    assert all(ids == [2] for ids, _ in model.calls[2:])  # then only the one still failing
    assert [t for _, t in model.calls] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert decoded[0].temperature == 0.0 and decoded[1].temperature == 0.2
    assert decoded[2].temperature == 0.4, "best log-prob among the non-repetitive tries"


def test_silence_does_not_fall_back() -> None:
    from whisper_ui.engine.batcher import _Decoded, needs_fallback

    options = _fw_opts()
    unsure = _Decoded(
        [1], avg_logprob=-1.5, no_speech_prob=0.2, compression_ratio=1.0, temperature=0
    )
    silent = _Decoded(
        [1], avg_logprob=-1.5, no_speech_prob=0.9, compression_ratio=1.0, temperature=0
    )
    fine = _Decoded([1], avg_logprob=-0.3, no_speech_prob=0.9, compression_ratio=1.2, temperature=0)
    assert needs_fallback(unsure, options)
    assert not needs_fallback(silent, options)
    assert not needs_fallback(fine, options)


def test_a_chunk_is_decoded_again_from_where_the_model_stopped_within_limits() -> None:
    from whisper_ui.engine.batcher import MAX_CONTINUATIONS, continuation

    assert continuation(26.4, 0.0, 22.16, 0) == pytest.approx(22.16)  # 4 s left: go on
    assert continuation(26.4, 22.16, 3.0, 1) == pytest.approx(25.16)  # measured from the cut
    assert continuation(26.4, 0.0, None, 0) is None  # closed on a single timestamp: done
    assert continuation(26.4, 0.0, 26.1, 0) is None  # 0.3 s left: too short for a word
    assert continuation(26.4, 5.0, 0.0, 1) is None  # no progress: never loop
    assert continuation(26.4, 1.0, 1.0, MAX_CONTINUATIONS) is None  # bounded per chunk
