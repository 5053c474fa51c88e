"""engine/speakers: turns laid on segments (pure), and which options ask for the stage."""

from __future__ import annotations

import pytest

from whisper_ui.domain import Segment, SpeakerTurn, TranscribeOptions, Word
from whisper_ui.engine.speakers import SpeakerRequest, assign, check, request, speaker_at
from whisper_ui.options import OptionsError

A, B = "Speaker 1", "Speaker 2"


def words(*spec: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(s, e, w, 0.9) for s, e, w in spec)


def test_a_segment_inside_one_turn_gets_that_speaker_and_keeps_its_id_order() -> None:
    segments = [Segment(0, 0.0, 2.0, " Hello there."), Segment(1, 2.5, 4.0, " Hi.")]
    turns = [SpeakerTurn(0.0, 2.2, A), SpeakerTurn(2.4, 4.0, B)]
    out = assign(segments, turns)
    assert [(s.id, s.speaker, s.text) for s in out] == [(0, A, " Hello there."), (1, B, " Hi.")]


def test_a_change_inside_a_segment_splits_it_at_the_word() -> None:
    seg = Segment(
        0, 0.0, 4.0, " Good morning. Happy to be here.",
        words=words((0.0, 0.6, " Good"), (0.6, 1.4, " morning."), (2.0, 2.6, " Happy"),
                    (2.6, 2.9, " to"), (2.9, 3.2, " be"), (3.2, 4.0, " here.")),
    )  # fmt: skip
    out = assign(
        [seg, Segment(1, 4.5, 5.0, " Yes.")], [SpeakerTurn(0, 1.6, A), SpeakerTurn(1.8, 5.0, B)]
    )
    assert [(s.id, s.speaker, s.text) for s in out] == [
        (0, A, " Good morning."),
        (1, B, " Happy to be here."),
        (2, B, " Yes."),
    ]
    assert out[0].end == 1.4 and out[1].start == 2.0
    assert {w.speaker for w in out[1].words} == {B}


def test_without_words_the_text_is_cut_at_the_space_nearest_the_change() -> None:
    seg = Segment(0, 0.0, 4.0, " one two three four five six seven eight")
    out = assign([seg], [SpeakerTurn(0.0, 2.0, A), SpeakerTurn(2.0, 4.0, B)])
    assert [(s.speaker, s.text) for s in out] == [
        (A, " one two three four"),
        (B, " five six seven eight"),
    ]
    assert (out[0].start, out[0].end, out[1].start, out[1].end) == (0.0, 2.0, 2.0, 4.0)


def test_a_blip_of_another_voice_shorter_than_half_a_second_is_not_a_split() -> None:
    seg = Segment(
        0, 0.0, 3.0, " a b c",
        words=words((0.0, 1.0, " a"), (1.0, 1.3, " b"), (1.3, 3.0, " c")),
    )  # fmt: skip
    turns = [SpeakerTurn(0.0, 1.0, A), SpeakerTurn(1.0, 1.3, B), SpeakerTurn(1.3, 3.0, A)]
    (out,) = assign([seg], turns)
    assert out.speaker == A and out.text == " a b c"


def test_no_turns_leave_the_segments_as_they_were() -> None:
    segments = (Segment(0, 0.0, 1.0, " x"),)
    assert assign(segments, []) == segments


def test_a_word_in_a_pause_takes_the_nearest_turn() -> None:
    assert speaker_at([SpeakerTurn(0, 1, A), SpeakerTurn(5, 6, B)], 4.5, 4.8) == B
    assert speaker_at([], 0, 1) is None


def test_requests_and_checks() -> None:
    assert request(TranscribeOptions()) is None
    assert request(TranscribeOptions(speakers="3")) == SpeakerRequest(3, None, None)
    auto = TranscribeOptions(speakers="auto", min_speakers=2, max_speakers=4)
    assert request(auto) == SpeakerRequest(None, 2, 4)
    check(auto, available=True)
    with pytest.raises(OptionsError, match=r"whisper-ui\[speakers\]"):
        check(auto, available=False)
    check(TranscribeOptions(), available=False)  # off needs nothing
    with pytest.raises(OptionsError, match="min_speakers"):
        check(TranscribeOptions(speakers="auto", min_speakers=4, max_speakers=2), available=True)
