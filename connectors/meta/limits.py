"""Meta's size limits, and splitting what Rasa wants to say so it fits them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from handoff.model import Channel
from handoff.text_limits import TEXT_LIMITS, TextLimit

T = TypeVar("T")


@dataclass(frozen=True)
class ChannelLimits:
    text_limit: TextLimit  # the largest text message (Instagram counts UTF-8 bytes, Messenger characters)
    quick_replies: int = 13
    quick_reply_title: int = 20
    buttons: int = 3
    button_title: int = 20
    button_template_text: int = 640
    generic_elements: int = 10

    @property
    def text(self) -> int:
        return self.text_limit.max

    def size(self, text: str) -> int:
        return self.text_limit.size(text)


MESSENGER_LIMITS = ChannelLimits(TEXT_LIMITS[Channel.MESSENGER])
INSTAGRAM_LIMITS = ChannelLimits(TEXT_LIMITS[Channel.INSTAGRAM])

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_SPACE = re.compile(r"\s+")


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` (by ``size``), on sentence
    boundaries where possible, else on word boundaries, else anywhere."""
    text = text.strip()
    pieces: list[str] = []
    while text:
        if size(text) <= limit:
            pieces.append(text)
            break
        head = _longest_prefix(text, limit, size)
        cut = _last_boundary(head, _SENTENCE_END) or _last_boundary(head, _SPACE) or len(head)
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return pieces


def _longest_prefix(text: str, limit: int, size: Callable[[str], int]) -> str:
    # Binary search on characters: a byte limit must never cut a character in two.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _last_boundary(head: str, pattern: re.Pattern[str]) -> int:
    """Index just after the last boundary in ``head`` (0 when none is useful)."""
    ends = [match.start() for match in pattern.finditer(head)]
    # A boundary in the first fifth would leave a tiny piece; cut on words instead.
    useful = [end for end in ends if end > len(head) // 5]
    return useful[-1] if useful else 0


def shorten(title: str, limit: int) -> str:
    """A title that fits, with an ellipsis when it had to be cut."""
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
