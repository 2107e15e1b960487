"""Reading and checking data/campaigns.yml.

Designers edit this file by hand, so every mistake is reported at once, each naming the
file, the campaign and the field, e.g.
``data/campaigns.yml: campaign 'ventas', field 'edad': min (50) is greater than max (10)``.
Unknown keys are errors too: a typo (``requierd: true``) must not pass silently. Given the
bot's domain (``vocabulary``), the slots, entities and intents the file names must exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from handoff.campaigns.domain import BotVocabulary, DomainUnreadable, read_domain
from handoff.campaigns.forms import is_blank, validate_value
from handoff.campaigns.model import (
    CHOICE_TYPES,
    LENGTH_TYPES,
    Campaign,
    CampaignBook,
    FieldType,
    FormField,
    LocalizedText,
    Prefill,
    PrefillSource,
    RoutingRule,
)
from handoff.errors import HandoffError
from handoff.model import Channel

DEFAULT_ORPHAN_TIMEOUT = timedelta(minutes=10)

TOP_KEYS = {"campaigns", "routing"}
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
FIELD_KEYS = {
    "id",
    "label",
    "type",
    "required",
    "min_length",
    "max_length",
    "min",
    "max",
    "options",
    "prefill",
    "prefill_from_slot",
    "default",
}
PREFILL_KEYS = {source.value for source in PrefillSource}
OPTION_KEYS = {"id", "label"}
ROUTING_KEYS = {"default", "rules"}
RULE_KEYS = {"campaign", "when"}
CONDITION_KEYS = {"channel", "account", "intent", "asked", "entities", "slots"}
LANGUAGE_KEYS = {"es", "en"}

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FIELD_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")


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


class _Checker:
    """Walks the parsed YAML, building the model and collecting every mistake."""

    def __init__(self, source: str, vocabulary: BotVocabulary | None = None) -> None:
        self.source = source
        self.vocabulary = vocabulary  # None: names of slots, entities, intents are not checked
        self.errors: list[str] = []

    def known(self, where: str, kind: str, name: str, what: str) -> None:
        """Report ``name`` when the bot's domain has no such slot / entity / intent."""
        vocabulary = self.vocabulary
        if vocabulary is None:
            return
        names = {"slot": vocabulary.slots, "entity": vocabulary.entities, "intent": vocabulary.intents}[kind]
        if name in names or (kind == "intent" and vocabulary.knows_intent(name)):
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

    # -- the document ------------------------------------------------------------------

    def book(self, data: Any) -> CampaignBook | None:
        if not isinstance(data, Mapping):
            self.error("", "the file must be a mapping with 'campaigns' and 'routing'")
            return None
        self.keys("", data, TOP_KEYS)
        campaigns: dict[str, Campaign] = {}
        raw_campaigns = data.get("campaigns")
        if not isinstance(raw_campaigns, list) or not raw_campaigns:
            self.error("", "'campaigns' must be a non-empty list")
            raw_campaigns = []
        for position, raw in enumerate(raw_campaigns, start=1):
            campaign = self.campaign(position, raw, campaigns)
            if campaign is not None:
                campaigns[campaign.id] = campaign
        known_ids = self._declared_ids(raw_campaigns)
        rules, default = self.routing(data.get("routing"), campaigns, known_ids)
        if self.errors or default is None:
            return None
        return CampaignBook(campaigns=campaigns, rules=rules, default_campaign_id=default, source=self.source)

    @staticmethod
    def _declared_ids(raw_campaigns: list) -> set[str]:
        # Rules are checked against every declared id, so that one broken campaign does not
        # also produce "missing campaign" errors in the rules that name it.
        return {raw["id"] for raw in raw_campaigns if isinstance(raw, Mapping) and isinstance(raw.get("id"), str)}

    def campaign(self, position: int, raw: Any, seen: Mapping[str, Campaign]) -> Campaign | None:
        if not isinstance(raw, Mapping):
            self.error(f"campaign #{position}", "must be a mapping")
            return None
        campaign_id = raw.get("id")
        if not isinstance(campaign_id, str) or not CAMPAIGN_ID.match(campaign_id):
            self.error(f"campaign #{position}", f"'id' must be lower-case letters, digits, '_' or '-' (got {campaign_id!r})")
            return None
        where = f"campaign '{campaign_id}'"
        errors_before = len(self.errors)
        if campaign_id in seen:
            self.error(where, "duplicate campaign id")
        self.keys(where, raw, CAMPAIGN_KEYS)
        name = self.text(where, raw.get("name"), "'name'")
        if "channels" not in raw:
            self.error(where, "'channels' is required (messenger, instagram or both)")
            channels: tuple[Channel, ...] = ()
        elif raw["channels"] in (None, []):
            self.error(where, "'channels' must list at least one channel")
            channels = ()
        else:
            channels = self.channel_list(where, raw["channels"], "'channels'")
        accounts = self.accounts(where, raw.get("accounts"), channels)
        orphan_timeout = DEFAULT_ORPHAN_TIMEOUT
        if "orphan_timeout" in raw:
            parsed = parse_duration(raw["orphan_timeout"])
            if parsed is None or parsed <= timedelta(0):
                self.error(
                    where,
                    f'\'orphan_timeout\' must be a positive duration like 600, "10m" or "1h30m" (got {raw["orphan_timeout"]!r})',
                )
            else:
                orphan_timeout = parsed
        human_agent_tag = raw.get("human_agent_tag", False)
        if not isinstance(human_agent_tag, bool):
            self.error(where, f"'human_agent_tag' must be true or false (got {human_agent_tag!r})")
        if "handoff_message" in raw:
            handoff_message = self.localized(where, raw["handoff_message"], "handoff_message", need_english=True)
        else:
            self.error(where, "'handoff_message' is required (with 'es' and 'en' texts)")
            handoff_message = None
        inbound = self.form(where, "field", raw.get("inbound_form", []), "inbound_form")
        outbound = (
            self.form(where, "outbound_form field", raw["outbound_form"], "outbound_form") if "outbound_form" in raw else inbound
        )
        if len(self.errors) > errors_before or name is None or handoff_message is None:
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

    def accounts(self, where: str, value: Any, channels: tuple[Channel, ...]) -> dict[Channel, tuple[str, ...]]:
        if value is None:
            return {}
        data = self.mapping(where, value, "'accounts'")
        if data is None:
            return {}
        accounts: dict[Channel, tuple[str, ...]] = {}
        for key, ids in data.items():
            try:
                channel = Channel(key)
            except ValueError:
                self.error(where, f"'accounts': unknown channel {key!r} (use messenger or instagram)")
                continue
            if channel not in channels:
                self.error(where, f"'accounts': channel '{channel.value}' is not in 'channels'")
            listed = self.text_list(where, ids, f"'accounts.{channel.value}'")
            if not listed:
                self.error(where, f"'accounts.{channel.value}' must list at least one account id (or leave the channel out)")
            accounts[channel] = listed
        return accounts

    def form(self, where: str, noun: str, value: Any, what: str) -> tuple[FormField, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(where, f"'{what}' must be a list of fields")
            return ()
        fields: list[FormField] = []
        ids: set[str] = set()
        for position, raw in enumerate(value, start=1):
            field = self.field(where, noun, position, raw, ids)
            if field is not None:
                ids.add(field.id)
                fields.append(field)
        return tuple(fields)

    def field(self, campaign_where: str, noun: str, position: int, raw: Any, ids: set[str]) -> FormField | None:
        if not isinstance(raw, Mapping):
            self.error(campaign_where, f"{noun} #{position} must be a mapping")
            return None
        field_id = raw.get("id")
        if not isinstance(field_id, str) or not FIELD_ID.match(field_id):
            self.error(campaign_where, f"{noun} #{position}: 'id' must be letters, digits or '_' (got {field_id!r})")
            return None
        where = f"{campaign_where}, {noun} '{field_id}'"
        errors_before = len(self.errors)
        if field_id in ids:
            self.error(where, "duplicate field id")
        self.keys(where, raw, FIELD_KEYS)
        try:
            field_type = FieldType(raw.get("type"))
        except ValueError:
            self.error(where, f"unknown type {raw.get('type')!r} (use one of {', '.join(t.value for t in FieldType)})")
            return None
        label = self.localized(where, raw["label"], "label", need_english=False) if "label" in raw else LocalizedText(es=field_id)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            self.error(where, f"'required' must be true or false (got {required!r})")

        def integer(key: str) -> int | None:
            value = raw.get(key)
            if value is None:
                return None
            if field_type not in LENGTH_TYPES:
                self.error(where, f"'{key}' applies only to text and paragraph fields, not {field_type.value}")
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.error(where, f"'{key}' must be a whole number >= 0 (got {value!r})")
                return None
            return value

        def number(key: str) -> float | None:
            value = raw.get(key)
            if value is None:
                return None
            if field_type is not FieldType.NUMBER:
                self.error(where, f"'{key}' applies only to number fields, not {field_type.value}")
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.error(where, f"'{key}' must be a number (got {value!r})")
                return None
            return value

        min_length, max_length = integer("min_length"), integer("max_length")
        if min_length is not None and max_length is not None and min_length > max_length:
            self.error(where, f"min_length ({min_length}) is greater than max_length ({max_length})")
        minimum, maximum = number("min"), number("max")
        if minimum is not None and maximum is not None and minimum > maximum:
            self.error(where, f"min ({minimum}) is greater than max ({maximum})")
        options, option_labels = self.options(where, field_type, raw)
        prefill = self.prefill(where, raw)
        if len(self.errors) > errors_before or label is None:
            return None
        field = FormField(
            id=field_id,
            type=field_type,
            label=label,
            required=bool(required),
            min_length=min_length,
            max_length=max_length,
            min=minimum,
            max=maximum,
            options=options,
            option_labels=option_labels,
            prefill=prefill,
            default=raw.get("default"),
        )
        if not is_blank(field.default):
            for problem in validate_value(field, field.default):
                self.error(where, f"invalid default: {problem.message}")
            if len(self.errors) > errors_before:
                return None
        return field

    def prefill(self, where: str, raw: Mapping[str, Any]) -> Prefill | None:
        """``prefill: {slot: x}`` / ``{entity: x}`` / ``{pattern: '...(group)...'}``, or the
        older shorthand ``prefill_from_slot: x`` (the same as ``prefill: {slot: x}``)."""
        if "prefill" in raw and "prefill_from_slot" in raw:
            self.error(where, "give either 'prefill' or 'prefill_from_slot', not both")
            return None
        if "prefill_from_slot" in raw:
            spec: Any = {"slot": raw["prefill_from_slot"]}
            what = "'prefill_from_slot'"
        elif "prefill" in raw:
            spec, what = raw["prefill"], "'prefill'"
        else:
            return None
        if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in PREFILL_KEYS:
            self.error(where, f"{what} must be one of {{slot: NAME}}, {{entity: NAME}} or {{pattern: 'REGEX'}} (got {spec!r})")
            return None
        ((key, value),) = spec.items()
        source = PrefillSource(key)
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"{what}: the {source.value} must be a non-empty text (got {value!r})")
            return None
        if source is PrefillSource.PATTERN:
            try:
                groups = re.compile(value).groups
            except re.error as problem:
                self.error(where, f"{what}: the pattern '{value}' is not a valid regular expression: {problem}")
                return None
            if groups != 1:
                message = f"the pattern '{value}' must have exactly one group (...) around the value (has {groups})"
                self.error(where, f"{what}: {message}")
                return None
            return Prefill(source, value)
        self.known(where, source.value, value.strip(), what)
        return Prefill(source, value.strip())

    def options(
        self, where: str, field_type: FieldType, raw: Mapping[str, Any]
    ) -> tuple[tuple[str, ...], dict[str, LocalizedText]]:
        """The option ids (the stored values) and their labels: an option is an id
        (``resuelto``, shown as is) or ``{id: cotizacion, label: {es: Cotización, en: Quote}}``."""
        value = raw.get("options")
        if field_type not in CHOICE_TYPES:
            if value is not None:
                self.error(where, f"'options' applies only to choice and list fields, not {field_type.value}")
            return (), {}
        if not isinstance(value, list) or not value:
            self.error(where, f"'options' must be a non-empty list for a {field_type.value} field")
            return (), {}
        ids: list[str] = []
        labels: dict[str, LocalizedText] = {}
        for position, item in enumerate(value, start=1):
            if not isinstance(item, Mapping):
                ids.extend(self.text_list(where, [item], "'options'"))
                continue
            self.keys(f"{where}, option #{position}", item, OPTION_KEYS)
            option_id = self.text_list(f"{where}, option #{position}", [item.get("id")], "'id'")
            if not option_id:
                continue
            ids.append(option_id[0])
            if "label" in item:
                label = self.localized(f"{where}, option '{option_id[0]}'", item["label"], "label", need_english=False)
                if label is not None:
                    labels[option_id[0]] = label
        duplicates = sorted({option for option in ids if ids.count(option) > 1})
        if duplicates:
            self.error(where, f"'options' lists {duplicates!r} more than once")
        return tuple(ids), labels

    def routing(
        self, value: Any, campaigns: Mapping[str, Campaign], known_ids: set[str]
    ) -> tuple[tuple[RoutingRule, ...], str | None]:
        if value is None:
            self.error("routing", "'routing' with a 'default' campaign is required")
            return (), None
        data = self.mapping("routing", value, "'routing'")
        if data is None:
            return (), None
        self.keys("routing", data, ROUTING_KEYS)
        default = data.get("default")
        if not isinstance(default, str):
            self.error("routing", "'default' (the campaign when no rule matches) is required")
            default = None
        elif default not in known_ids:
            self.error("routing", f"'default' names campaign '{default}', which does not exist")
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            self.error("routing", "'rules' must be a list")
            raw_rules = []
        rules = []
        for position, raw in enumerate(raw_rules, start=1):
            rule = self.rule(f"routing rule #{position}", raw, campaigns, known_ids)
            if rule is not None:
                rules.append(rule)
        return tuple(rules), default

    def rule(self, where: str, raw: Any, campaigns: Mapping[str, Campaign], known_ids: set[str]) -> RoutingRule | None:
        data = self.mapping(where, raw, "a rule")
        if data is None:
            return None
        errors_before = len(self.errors)
        self.keys(where, data, RULE_KEYS)
        campaign_id = data.get("campaign")
        if not isinstance(campaign_id, str):
            self.error(where, "'campaign' is required")
        elif campaign_id not in known_ids:
            self.error(where, f"campaign '{campaign_id}' does not exist")
        when = data.get("when")
        if not isinstance(when, Mapping) or not when:
            self.error(where, "'when' must give at least one condition (channel, account, intent, asked, entities, slots)")
            return None
        self.keys(where, when, CONDITION_KEYS)
        channels = self.channel_list(where, when["channel"], "'channel'") if "channel" in when else ()
        accounts = self.text_list(where, when["account"], "'account'") if "account" in when else ()
        intents = self.text_list(where, when["intent"], "'intent'") if "intent" in when else ()
        asked = self.text_list(where, when["asked"], "'asked'") if "asked" in when else ()
        entities = self.text_list(where, when["entities"], "'entities'") if "entities" in when else ()
        for key, names in (("intent", intents), ("asked", asked)):
            for name in names:
                self.known(where, "intent", name, f"'{key}'")
        for name in entities:
            self.known(where, "entity", name, "'entities'")
        slots: dict[str, tuple[Any, ...]] = {}
        if "slots" in when:
            slot_map = self.mapping(where, when["slots"], "'slots'")
            for name, accepted in (slot_map or {}).items():
                self.known(where, "slot", str(name), "'slots'")
                slots[str(name)] = tuple(accepted) if isinstance(accepted, list) else (accepted,)
        campaign = campaigns.get(campaign_id) if isinstance(campaign_id, str) else None
        if campaign is not None:
            for channel in channels:
                if channel not in campaign.channels:
                    self.error(where, f"campaign '{campaign.id}' does not serve channel '{channel.value}'")
        if len(self.errors) > errors_before or not isinstance(campaign_id, str):
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


def parse_campaigns(text: str, source: str = "data/campaigns.yml", vocabulary: BotVocabulary | None = None) -> CampaignBook:
    """The campaigns in YAML ``text``; CampaignConfigError listing every mistake. With the
    bot's ``vocabulary``, the slots, entities and intents it names must exist."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as problem:
        raise CampaignConfigError([f"{source}: not valid YAML: {problem}"]) from None
    checker = _Checker(source, vocabulary)
    book = checker.book(data)
    if checker.errors or book is None:
        raise CampaignConfigError(checker.errors or [f"{source}: no campaigns"])
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
