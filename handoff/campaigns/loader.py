"""Reading and checking data/campaigns.yml.

Designers edit this file by hand, so every mistake is reported at once, each naming the
file, the campaign and the field, e.g.
``data/campaigns.yml: campaign 'ventas', field 'edad': min (50) is greater than max (10)``.
Unknown keys are errors too: a typo (``requierd: true``) must not pass silently. Given the
bot's domain (``vocabulary``), the slots, entities and intents the file names must exist.

This module reads the YAML and the document's shape (``campaigns`` and ``routing``); each
part is checked by its own module: checker (plain values, the collected mistakes),
campaign_reader, form_reader (fields, options, prefill) and routing_reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from handoff.campaigns.campaign_reader import DEFAULT_ORPHAN_TIMEOUT, parse_duration, read_campaign
from handoff.campaigns.checker import Checker
from handoff.campaigns.domain import BotVocabulary, DomainUnreadable, read_domain
from handoff.campaigns.model import Campaign, CampaignBook
from handoff.campaigns.routing_reader import read_routing
from handoff.errors import HandoffError

__all__ = ["DEFAULT_ORPHAN_TIMEOUT", "CampaignConfigError", "load_campaigns", "parse_campaigns", "parse_duration"]

TOP_KEYS = {"campaigns", "routing"}


class CampaignConfigError(HandoffError):
    """data/campaigns.yml is wrong; ``errors`` holds one message per mistake."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a designer should hear about it."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_book(check: Checker, data: Any) -> CampaignBook | None:
    """The whole document: a mapping with the ``campaigns`` list and the ``routing``."""
    if not isinstance(data, Mapping):
        check.error("", "the file must be a mapping with 'campaigns' and 'routing'")
        return None
    check.keys("", data, TOP_KEYS)
    campaigns: dict[str, Campaign] = {}
    raw_campaigns = data.get("campaigns")
    if not isinstance(raw_campaigns, list) or not raw_campaigns:
        check.error("", "'campaigns' must be a non-empty list")
        raw_campaigns = []
    for position, raw in enumerate(raw_campaigns, start=1):
        campaign = read_campaign(check, position, raw, campaigns)
        if campaign is not None:
            campaigns[campaign.id] = campaign
    known_ids = _declared_ids(raw_campaigns)
    rules, default = read_routing(check, data.get("routing"), campaigns, known_ids)
    if check.errors or default is None:
        return None
    return CampaignBook(campaigns=campaigns, rules=rules, default_campaign_id=default, source=check.source)


def _declared_ids(raw_campaigns: list) -> set[str]:
    # Rules are checked against every declared id, so that one broken campaign does not
    # also produce "missing campaign" errors in the rules that name it.
    return {raw["id"] for raw in raw_campaigns if isinstance(raw, Mapping) and isinstance(raw.get("id"), str)}


def parse_campaigns(text: str, source: str = "data/campaigns.yml", vocabulary: BotVocabulary | None = None) -> CampaignBook:
    """The campaigns in YAML ``text``; CampaignConfigError listing every mistake. With the
    bot's ``vocabulary``, the slots, entities and intents it names must exist."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as problem:
        raise CampaignConfigError([f"{source}: not valid YAML: {problem}"]) from None
    check = Checker(source, vocabulary)
    book = read_book(check, data)
    if check.errors or book is None:
        raise CampaignConfigError(check.errors or [f"{source}: no campaigns"])
    return book


def load_campaigns(path: str | Path, domain: str | Path | None = None) -> CampaignBook:
    """Read and check a campaigns file (at start, and by ``python -m handoff.campaigns check``),
    against the bot's ``domain`` (domain.yml) when given."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as problem:
        raise CampaignConfigError([f"{path}: cannot read: {problem.strerror or problem}"]) from None
    try:
        vocabulary = read_domain(domain) if domain is not None else None
    except DomainUnreadable as problem:
        raise CampaignConfigError([str(problem)]) from None
    return parse_campaigns(text, source=str(path), vocabulary=vocabulary)
