"""Reading the routing of data/campaigns.yml: the default campaign and the rules that pick one for a handoff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handoff.campaigns.checker import Checker
from handoff.campaigns.model import Campaign, RoutingRule

ROUTING_KEYS = {"default", "rules"}
RULE_KEYS = {"campaign", "when"}
CONDITION_KEYS = {"channel", "account", "intent", "asked", "entities", "slots"}


def read_routing(
    check: Checker, value: Any, campaigns: Mapping[str, Campaign], known_ids: set[str]
) -> tuple[tuple[RoutingRule, ...], str | None]:
    """The rules (those with a mistake left out) and the default campaign's id (None when missing)."""
    if value is None:
        check.error("routing", "'routing' with a 'default' campaign is required")
        return (), None
    data = check.mapping("routing", value, "'routing'")
    if data is None:
        return (), None
    check.keys("routing", data, ROUTING_KEYS)
    default = data.get("default")
    if not isinstance(default, str):
        check.error("routing", "'default' (the campaign when no rule matches) is required")
        default = None
    elif default not in known_ids:
        check.error("routing", f"'default' names campaign '{default}', which does not exist")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        check.error("routing", "'rules' must be a list")
        raw_rules = []
    rules = []
    for position, raw in enumerate(raw_rules, start=1):
        rule = read_rule(check, f"routing rule #{position}", raw, campaigns, known_ids)
        if rule is not None:
            rules.append(rule)
    return tuple(rules), default


def read_rule(check: Checker, where: str, raw: Any, campaigns: Mapping[str, Campaign], known_ids: set[str]) -> RoutingRule | None:
    """One rule: ``{campaign: ID, when: {channel, account, intent, asked, entities, slots}}``, or None when it has a mistake."""
    data = check.mapping(where, raw, "a rule")
    if data is None:
        return None
    errors_before = len(check.errors)
    check.keys(where, data, RULE_KEYS)
    campaign_id = data.get("campaign")
    if not isinstance(campaign_id, str):
        check.error(where, "'campaign' is required")
    elif campaign_id not in known_ids:
        check.error(where, f"campaign '{campaign_id}' does not exist")
    when = data.get("when")
    if not isinstance(when, Mapping) or not when:
        check.error(where, "'when' must give at least one condition (channel, account, intent, asked, entities, slots)")
        return None
    check.keys(where, when, CONDITION_KEYS)
    channels = check.channel_list(where, when["channel"], "'channel'") if "channel" in when else ()
    accounts = check.text_list(where, when["account"], "'account'") if "account" in when else ()
    intents = check.text_list(where, when["intent"], "'intent'") if "intent" in when else ()
    asked = check.text_list(where, when["asked"], "'asked'") if "asked" in when else ()
    entities = check.text_list(where, when["entities"], "'entities'") if "entities" in when else ()
    for key, names in (("intent", intents), ("asked", asked)):
        for name in names:
            check.known(where, "intent", name, f"'{key}'")
    for name in entities:
        check.known(where, "entity", name, "'entities'")
    slots: dict[str, tuple[Any, ...]] = {}
    if "slots" in when:
        slot_map = check.mapping(where, when["slots"], "'slots'")
        for name, accepted in (slot_map or {}).items():
            check.known(where, "slot", str(name), "'slots'")
            slots[str(name)] = tuple(accepted) if isinstance(accepted, list) else (accepted,)
    campaign = campaigns.get(campaign_id) if isinstance(campaign_id, str) else None
    if campaign is not None:
        for channel in channels:
            if channel not in campaign.channels:
                check.error(where, f"campaign '{campaign.id}' does not serve channel '{channel.value}'")
    if len(check.errors) > errors_before or not isinstance(campaign_id, str):
        return None
    return RoutingRule(
        campaign_id=campaign_id,
        channels=channels,
        accounts=accounts,
        intents=intents,
        asked=asked,
        entities=entities,
        slots=slots,
    )
