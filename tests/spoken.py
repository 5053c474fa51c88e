"""What the committed fixtures say (the texts tests/data/make_fixtures.sh speaks).

Tests compare transcripts with these by word error rate, with a margin, or on a few
content words of a sentence: tiny.en's beam search flips single words with a CPU's
float rounding (AVX2 vs AVX-512), so no test may rest on one exact word.
"""

from __future__ import annotations

SPEECH = (
    "The quick brown fox jumps over the lazy dog. "
    "On Tuesday the weather will be sunny, with a high of twenty five degrees."
)
SECOND = "The red car is parked next to the old church."
VIDEO = "Please remember to water the garden and feed the cat before dinner."

LONG_PARAGRAPHS = (
    "Chapter one. The ocean covers most of the surface of our planet. Whales, dolphins and "
    "sharks swim through the deep blue water, while small fish hide among the coral reefs. "
    "Sailors have crossed the ocean for thousands of years, guided by the stars.",
    "Chapter two. High in the mountains the air is cold and thin. Climbers carry ropes, "
    "warm jackets and plenty of water. From the summit they can see valleys, rivers and "
    "villages far below, and sometimes an eagle circling above the snow.",
    "Chapter three. To bake fresh bread you need flour, water, salt and yeast. Mix them "
    "together, knead the dough for ten minutes, and let it rise in a warm kitchen. "
    "Bake the loaf in a hot oven until the crust is golden brown.",
    "Chapter four. The railway station was busy on Monday morning. Trains arrived from "
    "the north and the south, and passengers hurried along the platforms with their "
    "suitcases. The conductor blew his whistle and the express departed on time.",
    "Chapter five. A computer follows instructions written by programmers. It stores "
    "numbers in memory, adds them very quickly, and shows the results on a screen. "
    "Today even a small telephone is more powerful than the first computers.",
)
LONG = " ".join(LONG_PARAGRAPHS)

TEXTS = {
    "speech.wav": SPEECH,
    "second_speech.wav": SECOND,
    "long_speech.mp3": LONG,
}


def found(content_words: set[str], recognised: set[str]) -> float:
    """The share of a sentence's content words that a transcript contains: a sentence
    that was dropped scores near 0, one with a word misheard still scores high."""
    return len(content_words & recognised) / len(content_words)


CHAPTER_WORDS = (
    {"ocean", "whales", "dolphins", "sharks", "sailors", "stars"},
    {"mountains", "climbers", "ropes", "summit", "eagle", "snow"},
    {"bread", "flour", "yeast", "dough", "kitchen", "oven"},
    {"railway", "station", "trains", "passengers", "conductor", "whistle"},
    {"computer", "instructions", "programmers", "memory", "screen", "telephone"},
)
"""Content words of each chapter of long_speech.mp3, for `chapters_missing`."""


def chapters_missing(recognised: set[str]) -> list[int]:
    """The chapters (1-5) of long_speech.mp3 a transcript lost: fewer than half of
    their content words were recognised. [] when every chapter is there."""
    return [i for i, chapter in enumerate(CHAPTER_WORDS, 1) if found(chapter, recognised) < 0.5]
