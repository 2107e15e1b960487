"""Collecting every mistake of data/campaigns.yml, each naming the file and the place, and reading its plain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handoff.campaigns.domain import BotVocabulary
from handoff.campaigns.model import LocalizedText
from handoff.model import Channel

LANGUAGE_KEYS = {"es", "en"}


class Checker:
    """Reads the parsed YAML's plain values (texts, lists, channels, localized texts), collecting every mistake."""

    def __init__(self, source: str, vocabulary: BotVocabulary | None = None) -> None:
        self.source = source
        self.vocabulary = vocabulary  # None: names of slots, entities, intents are not checked
        self.errors: list[str] = []

    def known(self, where: str, kind: str, name: str, what: str) -> None:
        """Report ``name`` when the bot's domain has no such slot / entity / intent."""
        vocabulary = self.vocabulary
        if vocabulary is None or vocabulary.knows(kind, name):
            return
        self.error(where, f"{what}: '{name}' is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} of {vocabulary.source}")

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def keys(self, where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.error(where, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")

    def mapping(self, where: str, value: Any, what: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.error(where, f"{what} must be a mapping, not {type(value).__name__}")
            return None
        return value

    def text(self, where: str, value: Any, what: str, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"{what} must be a non-empty text")
            return None
        return value.strip()

    def localized(self, where: str, value: Any, key: str, need_english: bool) -> LocalizedText | None:
        if isinstance(value, str) and value.strip():
            if need_english:
                self.error(where, f"'{key}' needs both 'es' and 'en' texts")
            return LocalizedText(es=value.strip())
        data = self.mapping(where, value, f"'{key}'")
        if data is None:
            return None
        for unknown in data:
            if unknown not in LANGUAGE_KEYS:
                self.error(where, f"'{key}': unknown language '{unknown}' (use es and en)")
        spanish = self.text(where, data.get("es"), f"'{key}.es'")
        english = self.text(where, data.get("en"), f"'{key}.en'", required=need_english)
        return LocalizedText(es=spanish, en=english) if spanish else None

    def channel_list(self, where: str, value: Any, what: str) -> tuple[Channel, ...]:
        items = value if isinstance(value, list) else [value]
        channels: list[Channel] = []
        for item in items:
            try:
                channel = Channel(item)
            except ValueError:
                self.error(where, f"{what}: unknown channel {item!r} (use messenger or instagram)")
                continue
            if channel in channels:
                self.error(where, f"{what}: channel '{channel.value}' listed twice")
            channels.append(channel)
        return tuple(channels)

    def text_list(self, where: str, value: Any, what: str) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        texts = []
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)  # an unquoted Page id is a number to YAML
            if not isinstance(item, str) or not item.strip():
                self.error(where, f"{what}: {item!r} must be a non-empty text")
                continue
            texts.append(item.strip())
        return tuple(texts)
