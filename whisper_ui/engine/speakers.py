"""The speakers stage of a job: which options ask for it, and laying turns on segments.

engine/diarize finds who spoke when from the audio alone; this module is the pure
glue between its turns and a transcript. `assign` gives every segment (and word) the
speaker who talks most during it, and splits a segment where the speaker changes
inside it: at a word boundary when the segment has words, else at the turn's edge
in proportion to the characters (Whisper segments are a sentence or two, so a split
by time lands close enough to a word boundary to be cut at the nearest space).

It runs after the transcript is whole, over every saved segment, so a job resumed
after a restart gets the same labels as one that ran through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from whisper_ui.domain import Segment, SpeakerTurn, TranscribeOptions, Word
from whisper_ui.options import OptionsError

INSTALL = "pip install 'whisper-ui[speakers]'"
MIN_SPLIT_S = 0.5  # a change of speaker shorter than this inside a segment is not a split


@dataclass(frozen=True)
class SpeakerRequest:
    """What diarize() is asked for: a fixed count, or auto within min/max."""

    speakers: int | None
    min_speakers: int | None
    max_speakers: int | None


def request(options: TranscribeOptions) -> SpeakerRequest | None:
    """The diarization a job asks for, or None when speakers are off."""
    if options.speakers == "off":
        return None
    if options.speakers == "auto":
        return SpeakerRequest(None, options.min_speakers, options.max_speakers)
    return SpeakerRequest(int(options.speakers), None, None)


def check(options: TranscribeOptions, *, available: bool) -> None:
    """Raise OptionsError for speaker options that can never work."""
    if options.speakers == "off":
        return
    if not available:
        raise OptionsError(f"speakers need the speakers extra: {INSTALL}")
    low, high = options.min_speakers, options.max_speakers
    if low is not None and high is not None and low > high:
        raise OptionsError(f"min_speakers ({low}) is more than max_speakers ({high})")


# ---- turns onto segments ------------------------------------------------------


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def speaker_at(turns: Sequence[SpeakerTurn], start: float, end: float) -> str | None:
    """The speaker who talks most between start and end; the nearest turn's when none
    overlaps (a word in a pause between turns)."""
    if not turns:
        return None
    talk: dict[str, float] = {}
    for turn in turns:
        shared = _overlap(start, end, turn.start, turn.end)
        if shared > 0:
            talk[turn.speaker] = talk.get(turn.speaker, 0.0) + shared
    if talk:
        return max(talk, key=lambda name: talk[name])
    mid = (start + end) / 2
    nearest = min(turns, key=lambda t: min(abs(t.start - mid), abs(t.end - mid)))
    return nearest.speaker


def _pieces(segment: Segment, turns: Sequence[SpeakerTurn]) -> list[tuple[float, float, str]]:
    """(start, end, speaker) stretches of one segment, changes shorter than MIN_SPLIT_S
    folded into their neighbours."""
    inside = [
        (max(t.start, segment.start), min(t.end, segment.end), t.speaker)
        for t in turns
        if _overlap(segment.start, segment.end, t.start, t.end) > 0
    ]
    merged: list[tuple[float, float, str]] = []
    for start, end, name in inside:
        if merged and (merged[-1][2] == name or end - start < MIN_SPLIT_S):
            merged[-1] = (merged[-1][0], end, merged[-1][2])
        elif merged and merged[-1][1] - merged[-1][0] < MIN_SPLIT_S:
            merged[-1] = (merged[-1][0], end, name)
        else:
            merged.append((start, end, name))
    return merged


def _split_words(segment: Segment, turns: Sequence[SpeakerTurn]) -> list[Segment]:
    words = [
        dataclasses.replace(w, speaker=speaker_at(turns, w.start, w.end)) for w in segment.words
    ]
    groups = _runs(words)
    # A stretch shorter than MIN_SPLIT_S between others is the clustering's noise: it
    # takes its neighbour's voice (the one before it, or after it at the start).
    while len(groups) > 1:
        short = next((i for i, g in enumerate(groups) if _span(g) < MIN_SPLIT_S), None)
        if short is None:
            break
        keep = groups[short - 1 if short > 0 else 1][0].speaker
        groups[short] = [dataclasses.replace(w, speaker=keep) for w in groups[short]]
        groups = _runs([w for g in groups for w in g])
    out: list[Segment] = []
    for group in groups:
        text = "".join(w.word for w in group)
        out.append(
            dataclasses.replace(
                segment,
                start=group[0].start if out else segment.start,
                end=group[-1].end if len(out) + 1 < len(groups) else segment.end,
                text=text if len(groups) > 1 else segment.text,
                words=tuple(group),
                speaker=group[0].speaker,
            )
        )
    return out


def _runs(words: Sequence[Word]) -> list[list[Word]]:
    """Consecutive words of one speaker, grouped."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and groups[-1][-1].speaker == word.speaker:
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def _span(words: Sequence[Word]) -> float:
    return words[-1].end - words[0].start


def _split_text(segment: Segment, pieces: Sequence[tuple[float, float, str]]) -> list[Segment]:
    """Without words: cut the text at the space nearest each change, by time."""
    text = segment.text
    length = max(segment.end - segment.start, 1e-6)
    cuts = [0]
    for start, _end, _name in pieces[1:]:
        at = round(len(text) * (start - segment.start) / length)
        spaces = [i for i, c in enumerate(text) if c == " " and i > cuts[-1]]
        if not spaces:
            break
        cuts.append(min(spaces, key=lambda i: abs(i - at)))
    cuts.append(len(text))
    out = []
    for n, (start, end, name) in enumerate(pieces[: len(cuts) - 1]):
        part = text[cuts[n] : cuts[n + 1]]
        if not part.strip():
            continue
        last = n == len(cuts) - 2
        out.append(
            dataclasses.replace(
                segment,
                start=segment.start if n == 0 else start,
                end=segment.end if last else end,
                text=part if part.startswith(" ") else " " + part,
                speaker=name,
            )
        )
    return out or [dataclasses.replace(segment, speaker=pieces[0][2])]


def assign(segments: Sequence[Segment], turns: Sequence[SpeakerTurn]) -> tuple[Segment, ...]:
    """Every segment with its speaker, split where the speaker changes; ids renumbered
    in order. No turns (silence, or nothing found): the segments unchanged."""
    if not turns:
        return tuple(segments)
    out: list[Segment] = []
    for segment in segments:
        pieces = _pieces(segment, turns)
        if segment.words:
            parts = _split_words(segment, turns)
        elif len(pieces) > 1:
            parts = _split_text(segment, pieces)
        else:
            parts = [
                dataclasses.replace(segment, speaker=speaker_at(turns, segment.start, segment.end))
            ]
        out.extend(parts)
    return tuple(dataclasses.replace(s, id=i) for i, s in enumerate(out))
