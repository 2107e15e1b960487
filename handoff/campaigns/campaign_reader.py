"""Reading one campaign of data/campaigns.yml: its id, name, channels and accounts, timeout, tag and message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from handoff.campaigns.checker import Checker
from handoff.campaigns.form_reader import read_form
from handoff.campaigns.model import Campaign
from handoff.model import Channel

DEFAULT_ORPHAN_TIMEOUT = timedelta(minutes=10)

CAMPAIGN_KEYS = {
    "id",
    "name",
    "description",
    "channels",
    "accounts",
    "orphan_timeout",
    "human_agent_tag",
    "handoff_message",
    "inbound_form",
    "outbound_form",
}

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")


def parse_duration(value: Any) -> timedelta | None:
    """Seconds (``600``) or a duration text (``"10m"``, ``"1h30m"``, ``"90s"``, ``"2d"``); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def read_campaign(check: Checker, position: int, raw: Any, seen: Mapping[str, Campaign]) -> Campaign | None:
    """The campaign at ``position`` (1-based) of the list, or None when it has a mistake."""
    if not isinstance(raw, Mapping):
        check.error(f"campaign #{position}", "must be a mapping")
        return None
    campaign_id = raw.get("id")
    if not isinstance(campaign_id, str) or not CAMPAIGN_ID.match(campaign_id):
        check.error(f"campaign #{position}", f"'id' must be lower-case letters, digits, '_' or '-' (got {campaign_id!r})")
        return None
    where = f"campaign '{campaign_id}'"
    errors_before = len(check.errors)
    if campaign_id in seen:
        check.error(where, "duplicate campaign id")
    check.keys(where, raw, CAMPAIGN_KEYS)
    name = check.text(where, raw.get("name"), "'name'")
    if "channels" not in raw:
        check.error(where, "'channels' is required (messenger, instagram or both)")
        channels: tuple[Channel, ...] = ()
    elif raw["channels"] in (None, []):
        check.error(where, "'channels' must list at least one channel")
        channels = ()
    else:
        channels = check.channel_list(where, raw["channels"], "'channels'")
    accounts = read_accounts(check, where, raw.get("accounts"), channels)
    orphan_timeout = DEFAULT_ORPHAN_TIMEOUT
    if "orphan_timeout" in raw:
        parsed = parse_duration(raw["orphan_timeout"])
        if parsed is None or parsed <= timedelta(0):
            check.error(
                where,
                f'\'orphan_timeout\' must be a positive duration like 600, "10m" or "1h30m" (got {raw["orphan_timeout"]!r})',
            )
        else:
            orphan_timeout = parsed
    human_agent_tag = raw.get("human_agent_tag", False)
    if not isinstance(human_agent_tag, bool):
        check.error(where, f"'human_agent_tag' must be true or false (got {human_agent_tag!r})")
    if "handoff_message" in raw:
        handoff_message = check.localized(where, raw["handoff_message"], "handoff_message", need_english=True)
    else:
        check.error(where, "'handoff_message' is required (with 'es' and 'en' texts)")
        handoff_message = None
    inbound = read_form(check, where, "field", raw.get("inbound_form", []), "inbound_form")
    outbound = (
        read_form(check, where, "outbound_form field", raw["outbound_form"], "outbound_form")
        if "outbound_form" in raw
        else inbound
    )
    if len(check.errors) > errors_before or name is None or handoff_message is None:
        return None
    return Campaign(
        id=campaign_id,
        name=name,
        channels=channels,
        accounts=accounts,
        inbound_form=inbound,
        outbound_form=outbound,
        orphan_timeout=orphan_timeout,
        human_agent_tag=bool(human_agent_tag),
        handoff_message=handoff_message,
    )


def read_accounts(check: Checker, where: str, value: Any, channels: tuple[Channel, ...]) -> dict[Channel, tuple[str, ...]]:
    """``accounts``: per channel of the campaign, the Page / Instagram account ids it serves."""
    if value is None:
        return {}
    data = check.mapping(where, value, "'accounts'")
    if data is None:
        return {}
    accounts: dict[Channel, tuple[str, ...]] = {}
    for key, ids in data.items():
        try:
            channel = Channel(key)
        except ValueError:
            check.error(where, f"'accounts': unknown channel {key!r} (use messenger or instagram)")
            continue
        if channel not in channels:
            check.error(where, f"'accounts': channel '{channel.value}' is not in 'channels'")
        listed = check.text_list(where, ids, f"'accounts.{channel.value}'")
        if not listed:
            check.error(where, f"'accounts.{channel.value}' must list at least one account id (or leave the channel out)")
        accounts[channel] = listed
    return accounts
