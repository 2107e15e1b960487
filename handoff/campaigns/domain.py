"""What the bot knows, read from its domain.yml: the intents, entities and slots that
data/campaigns.yml may name (in a field's ``prefill`` and in routing conditions).

The campaigns file is checked against it at start and by ``python -m handoff.campaigns
check``, so a typo (``prefill: {slot: order_numbr}``) is refused with the file, the
campaign and the field named, instead of leaving a field silently empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from handoff.errors import HandoffError

DEFAULT_DOMAIN_PATH = "domain.yml"
# Names the bot's domain for the server and the check command.
DOMAIN_VARIABLE = "HANDOFF_DOMAIN"
# Intents Rasa adds by itself: a rule may name them though domain.yml does not list them.
RASA_INTENTS = frozenset({"nlu_fallback", "out_of_scope", "restart", "back", "session_start"})


class DomainUnreadable(HandoffError):
    """The bot's domain cannot be read (missing file, not YAML)."""


@dataclass(frozen=True)
class BotVocabulary:
    intents: frozenset[str]
    entities: frozenset[str]
    slots: frozenset[str]
    source: str = DEFAULT_DOMAIN_PATH

    def knows_intent(self, name: str) -> bool:
        return name in self.intents or name in RASA_INTENTS

    def knows(self, kind: str, name: str) -> bool:
        """Whether the domain has ``name`` as a ``kind`` ("slot", "entity" or "intent")."""
        names = {"slot": self.slots, "entity": self.entities, "intent": self.intents}[kind]
        return name in names or (kind == "intent" and self.knows_intent(name))


def default_domain_path() -> str | None:
    """``HANDOFF_DOMAIN``, else domain.yml of the working directory (Rasa's own default);
    None when neither is there (a desk-only process): the names are then not checked."""
    named = os.environ.get(DOMAIN_VARIABLE)
    if named:
        return named
    return DEFAULT_DOMAIN_PATH if os.path.exists(DEFAULT_DOMAIN_PATH) else None


def _names(items: Any) -> set[str]:
    """Names of a domain list (``- greet`` or ``- language: {...}``) or mapping (slots)."""
    if isinstance(items, dict):
        return {str(key) for key in items}
    names: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, dict):
            names.update(str(key) for key in item)
    return names


def _files(path: Path) -> Iterable[Path]:
    # Rasa accepts a domain file or a folder of them.
    if path.is_dir():
        return sorted(file for file in path.rglob("*") if file.suffix in (".yml", ".yaml"))
    return [path]


def read_domain(path: str | Path = DEFAULT_DOMAIN_PATH) -> BotVocabulary:
    path = Path(path)
    intents: set[str] = set()
    entities: set[str] = set()
    slots: set[str] = set()
    for file in _files(path):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except OSError as problem:
            raise DomainUnreadable(f"{file}: cannot read the bot's domain: {problem.strerror or problem}") from None
        except yaml.YAMLError as problem:
            raise DomainUnreadable(f"{file}: the bot's domain is not valid YAML: {problem}") from None
        if not isinstance(data, dict):
            continue
        intents |= _names(data.get("intents"))
        entities |= _names(data.get("entities"))
        slots |= _names(data.get("slots"))
    return BotVocabulary(frozenset(intents), frozenset(entities), frozenset(slots), str(path))
