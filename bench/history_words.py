"""How the generated history draws its words: a Zipf law over ranked words, and made-up words."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

ZIPF_EXPONENT = 1.3

_ONSETS = ["b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "br", "tr", "pl", "gr", "qu", "z"]
_VOWELS = ["a", "e", "i", "o", "u"]
_CODAS = ["", "", "", "n", "r", "s", "l"]


def distinct(words: Sequence[str]) -> list[str]:
    """The words without repeats, in their first order (the rank)."""
    return list(dict.fromkeys(words))


def made_up_words(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """Made-up words of three syllables (``tranolis``): names of products, places, people."""
    words: dict[str, None] = {}
    while len(words) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(3))
        if word not in taken:
            words[word] = None
    return list(words)


class ZipfWords:
    """Words drawn with probability proportional to 1 / rank**s."""

    def __init__(self, words: Sequence[str], exponent: float = ZIPF_EXPONENT) -> None:
        self.words = list(words)
        self.cumulative = list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, len(words) + 1)))

    def draw(self, rng: random.Random, count: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=count)


class WordStream:
    """Words of one ``ZipfWords``, drawn a few thousand at a time and handed out a few at a time."""

    def __init__(self, words: ZipfWords, rng: random.Random) -> None:
        self.words = words
        self.rng = rng
        self.buffer: list[str] = []
        self.at = 0

    def take(self, count: int) -> list[str]:
        if self.at + count > len(self.buffer):
            self.buffer = self.words.draw(self.rng, 8192)
            self.at = 0
        self.at += count
        return self.buffer[self.at - count : self.at]


@dataclass(frozen=True)
class Language:
    code: str
    function: ZipfWords
    content: ZipfWords  # real words first, then the shared tail
    real_content: list[str]  # the real content words, by rank
