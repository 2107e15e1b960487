"""Campaigns as conversation designers write them in data/campaigns.yml, once validated.

A campaign is a team and its queue: which channels and accounts it serves, the form its
agents fill in, how long an absent agent's attentions wait before going back to the queue,
whether agents may answer with the HUMAN_AGENT tag after 24 h, and the hand-over message.
Routing rules pick a campaign for each handoff; the first rule that matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, Mapping, Optional

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
    en: Optional[str] = None

    def in_language(self, language: Optional[str]) -> str:
        return self.en if language == "en" and self.en else self.es


@dataclass(frozen=True)
class FormField:
    id: str
    type: FieldType
    label: LocalizedText
    required: bool = False
    min_length: Optional[int] = None
    max_length: Optional[int] = None
    min: Optional[float] = None
    max: Optional[float] = None
    options: tuple[str, ...] = ()
    prefill_from_slot: Optional[str] = None  # the Rasa slot whose value pre-fills the field
    default: Any = None


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
    intents: tuple[str, ...] = ()
    slots: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def matches(self, channel: Channel, account_id: str, intent: Optional[str], slots: Mapping[str, Any]) -> bool:
        if self.channels and channel not in self.channels:
            return False
        if self.accounts and account_id not in self.accounts:
            return False
        if self.intents and intent not in self.intents:
            return False
        return all(slots.get(name) in accepted for name, accepted in self.slots.items())


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
        self, channel: Channel | str, account_id: str, intent: Optional[str] = None, slots: Optional[Mapping[str, Any]] = None
    ) -> Campaign:
        """The campaign for a handoff: the first matching rule whose campaign serves this
        channel account, else the default campaign (the catch-all, whatever the channel)."""
        channel = Channel(channel)
        for rule in self.rules:
            if rule.matches(channel, account_id, intent, slots or {}):
                campaign = self.campaigns[rule.campaign_id]
                if campaign.serves(channel, account_id):
                    return campaign
        return self.campaigns[self.default_campaign_id]
