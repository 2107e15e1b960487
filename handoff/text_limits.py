"""Meta's limit on one text message, per channel: Messenger counts characters (2,000),
Instagram UTF-8 bytes (1,000). The one place these numbers live: the service refuses a
longer agent message, the connectors split the bot's, and the desk's composer counts with
what the API tells it (``text_limit`` of an attention)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handoff.model import Channel


@dataclass(frozen=True)
class TextLimit:
    max: int
    unit: Literal["chars", "bytes"]

    def size(self, text: str) -> int:
        return len(text.encode("utf-8")) if self.unit == "bytes" else len(text)


TEXT_LIMITS: dict[Channel, TextLimit] = {
    Channel.MESSENGER: TextLimit(2000, "chars"),
    Channel.INSTAGRAM: TextLimit(1000, "bytes"),
}
