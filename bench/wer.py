"""Word error rate: how far one transcript's words are from a reference's."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBERS = {w: str(i) for i, w in enumerate(_NUMBER_WORDS.split(" "))} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
}


def normalise(text: str) -> list[str]:
    """Lower case, punctuation dropped, small number words as digits: only the words
    are compared, not their styling ("ten minutes" and "10 minutes" are the same)."""
    return [_NUMBERS.get(w, w) for w in _WORD.findall(text.lower().replace("’", "'"))]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions cost 1)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Edits / reference words; 0.0 for two empty texts, 1.0 for words against nothing."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
