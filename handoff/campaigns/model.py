"""Campaigns as conversation designers write them in data/campaigns.yml, once validated.

A campaign is a team and its queue: which channels and accounts it serves, the form its
agents fill in, how long an absent agent's attentions wait before going back to the queue,
whether agents may answer with the HUMAN_AGENT tag after 24 h, and the hand-over message.
Routing rules pick a campaign for each handoff; the first rule that matches wins.

Both the pre-fill of a field and the routing may look at what the customer said during the
bot's part of the conversation (``Conversation``: each customer line's text, intent and
entities), not only at the bot's slots and the intent that opened the hand-over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from handoff.errors import NotFound
from handoff.model import Channel, Direction


class FieldType(str, Enum):
    TEXT = "text"  # one line; min_length / max_length
    PARAGRAPH = "paragraph"  # several lines; min_length / max_length
    NUMBER = "number"  # min / max
    SINGLE_CHOICE = "single_choice"  # radio buttons over `options`
    MULTIPLE_CHOICE = "multiple_choice"  # check boxes over `options`; the value is a list
    LIST = "list"  # a dropdown over `options`
    DATE = "date"  # YYYY-MM-DD


CHOICE_TYPES = frozenset({FieldType.SINGLE_CHOICE, FieldType.MULTIPLE_CHOICE, FieldType.LIST})
LENGTH_TYPES = frozenset({FieldType.TEXT, FieldType.PARAGRAPH})


@dataclass(frozen=True)
class LocalizedText:
    """A text in Spanish (the product's language) and English."""

    es: str
    en: str | None = None

    def in_language(self, language: str | None) -> str:
        return self.en if language == "en" and self.en else self.es


@dataclass(frozen=True)
class CustomerLine:
    """One customer line of the bot's context: what they wrote, its intent and entities."""

    text: str = ""
    intent: str | None = None
    entities: tuple[tuple[str, Any], ...] = ()  # (entity name, value), in the line's order

    def entity(self, name: str) -> Any:
        return next((value for entity, value in self.entities if entity == name), None)


@dataclass(frozen=True)
class Conversation:
    """The customer's side of the bot's part of the conversation (oldest line first)."""

    lines: tuple[CustomerLine, ...] = ()

    @classmethod
    def from_context(cls, context: Sequence[Mapping[str, Any]]) -> Conversation:
        """From the context entries the bot sends (``actions.handoff.conversation_context``):
        customer lines with ``text``, ``intent`` and ``entities`` [{entity, value}]."""
        lines = []
        for entry in context:
            if not isinstance(entry, Mapping) or entry.get("author") != "customer":
                continue
            text = entry.get("text")
            intent = entry.get("intent")
            raw_entities = entry.get("entities")
            entities = tuple(
                (str(item["entity"]), item.get("value"))
                for item in (raw_entities if isinstance(raw_entities, list) else [])
                if isinstance(item, Mapping) and isinstance(item.get("entity"), str)
            )
            said = text if isinstance(text, str) else ""
            lines.append(CustomerLine(said, intent if isinstance(intent, str) else None, entities))
        return cls(tuple(lines))

    @property
    def intents(self) -> frozenset[str]:
        """Every intent the customer's lines had: what they asked, not only the last thing."""
        return frozenset(line.intent for line in self.lines if line.intent)

    @property
    def entity_names(self) -> frozenset[str]:
        return frozenset(name for line in self.lines for name, _ in line.entities)

    def latest_entity(self, name: str) -> Any:
        """The entity's value in the latest line that has it (what the customer said last)."""
        for line in reversed(self.lines):
            value = line.entity(name)
            if value is not None:
                return value
        return None

    def latest_match(self, pattern: re.Pattern[str]) -> str | None:
        """The pattern's group in the latest line where it matches."""
        for line in reversed(self.lines):
            match = pattern.search(line.text)
            if match and match.group(1) is not None:
                return match.group(1).strip()
        return None


NO_CONVERSATION = Conversation()


class PrefillSource(str, Enum):
    SLOT = "slot"  # a slot of domain.yml the bot filled
    ENTITY = "entity"  # an entity of domain.yml in the customer's lines (the latest one)
    PATTERN = "pattern"  # a regular expression with one group over the customer's lines


@dataclass(frozen=True)
class Prefill:
    """How the bot fills a form field: ``prefill: {slot | entity | pattern: ...}``."""

    source: PrefillSource
    name: str  # the slot or entity name, or the pattern's text

    @property
    def pattern(self) -> re.Pattern[str]:
        # Checked by the loader (compiles, one group); compiled once per text by re's cache.
        return re.compile(self.name, re.IGNORECASE)

    def value(self, slots: Mapping[str, Any], conversation: Conversation) -> Any:
        if self.source is PrefillSource.SLOT:
            return slots.get(self.name)
        if self.source is PrefillSource.ENTITY:
            return conversation.latest_entity(self.name)
        return conversation.latest_match(self.pattern)


@dataclass(frozen=True)
class FormField:
    id: str
    type: FieldType
    label: LocalizedText
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()  # the ids: what is stored and exported
    # Each option's text per language; an option without one is shown as its id.
    option_labels: Mapping[str, LocalizedText] = field(default_factory=dict, hash=False)
    prefill: Prefill | None = None
    default: Any = None

    @property
    def prefill_from_slot(self) -> str | None:
        """The slot that pre-fills the field, when its ``prefill`` is a slot (the file's
        older ``prefill_from_slot: x`` is read as ``prefill: {slot: x}``)."""
        return self.prefill.name if self.prefill is not None and self.prefill.source is PrefillSource.SLOT else None

    def option_label(self, option: Any, language: str | None) -> str:
        """What people read for a stored option id (the id itself when it has no label)."""
        label = self.option_labels.get(option) if isinstance(option, str) else None
        return label.in_language(language) if label is not None else str(option)

    def value_text(self, value: Any, language: str | None) -> Any:
        """A stored value as people read it: choice ids become their labels."""
        if self.type not in CHOICE_TYPES or value is None:
            return value
        if isinstance(value, (list, tuple)):
            return [self.option_label(item, language) for item in value]
        return self.option_label(value, language)


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    channels: tuple[Channel, ...]
    inbound_form: tuple[FormField, ...]
    outbound_form: tuple[FormField, ...]
    orphan_timeout: timedelta
    human_agent_tag: bool
    handoff_message: LocalizedText
    # Per channel, the Page / Instagram accounts served; a channel not listed: all accounts.
    accounts: Mapping[Channel, tuple[str, ...]] = field(default_factory=dict)

    def serves(self, channel: Channel | str, account_id: str) -> bool:
        channel = Channel(channel)
        if channel not in self.channels:
            return False
        accounts = self.accounts.get(channel)
        return not accounts or account_id in accounts

    def form_for(self, direction: Direction | str) -> tuple[FormField, ...]:
        return self.outbound_form if Direction(direction) is Direction.OUTBOUND else self.inbound_form


@dataclass(frozen=True)
class RoutingRule:
    """Send a handoff to ``campaign_id`` when every given condition holds (empty = any)."""

    campaign_id: str
    channels: tuple[Channel, ...] = ()
    accounts: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()  # the intent that opened the hand-over (request_human...)
    asked: tuple[str, ...] = ()  # any of these intents in any customer line of the conversation
    entities: tuple[str, ...] = ()  # any of these entities in any customer line
    slots: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # e.g. a slot a bot rule set

    def matches(
        self,
        channel: Channel,
        account_id: str,
        intent: str | None,
        slots: Mapping[str, Any],
        conversation: Conversation = NO_CONVERSATION,
    ) -> bool:
        if self.channels and channel not in self.channels:
            return False
        if self.accounts and account_id not in self.accounts:
            return False
        if self.intents and intent not in self.intents:
            return False
        if self.asked and conversation.intents.isdisjoint(self.asked):
            return False
        if self.entities and conversation.entity_names.isdisjoint(self.entities):
            return False
        return all(slots.get(name) in accepted for name, accepted in self.slots.items())


@dataclass(frozen=True)
class Routing:
    """The campaign a handoff goes to, and why: the rule's position (1-based) or None for
    the default, so the audit trail can say which rule decided."""

    campaign: Campaign
    rule: int | None


@dataclass(frozen=True)
class CampaignBook:
    """All campaigns and the routing between them: the validated data/campaigns.yml."""

    campaigns: Mapping[str, Campaign]
    rules: tuple[RoutingRule, ...]
    default_campaign_id: str
    source: str = "data/campaigns.yml"

    def get(self, campaign_id: str) -> Campaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise NotFound("campaign", campaign_id) from None

    def route(
        self,
        channel: Channel | str,
        account_id: str,
        intent: str | None = None,
        slots: Mapping[str, Any] | None = None,
        conversation: Conversation = NO_CONVERSATION,
    ) -> Campaign:
        return self.routing(channel, account_id, intent, slots, conversation).campaign

    def routing(
        self,
        channel: Channel | str,
        account_id: str,
        intent: str | None = None,
        slots: Mapping[str, Any] | None = None,
        conversation: Conversation = NO_CONVERSATION,
    ) -> Routing:
        """The campaign for a handoff: the first matching rule whose campaign serves this
        channel account, else the default campaign (the catch-all, whatever the channel)."""
        channel = Channel(channel)
        for position, rule in enumerate(self.rules, start=1):
            if rule.matches(channel, account_id, intent, slots or {}, conversation):
                campaign = self.campaigns[rule.campaign_id]
                if campaign.serves(channel, account_id):
                    return Routing(campaign, position)
        return Routing(self.campaigns[self.default_campaign_id], None)
