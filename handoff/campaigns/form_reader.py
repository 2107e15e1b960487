"""Reading a campaign's forms in data/campaigns.yml: each field, its options, default and prefill."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handoff.campaigns.checker import Checker
from handoff.campaigns.forms import is_blank, validate_value
from handoff.campaigns.model import CHOICE_TYPES, LENGTH_TYPES, FieldType, FormField, LocalizedText, Prefill, PrefillSource

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

FIELD_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def read_form(check: Checker, where: str, noun: str, value: Any, what: str) -> tuple[FormField, ...]:
    """The fields of the form under key ``what``, each named ``noun`` in the messages; those with a mistake left out."""
    if value is None:
        return ()
    if not isinstance(value, list):
        check.error(where, f"'{what}' must be a list of fields")
        return ()
    fields: list[FormField] = []
    ids: set[str] = set()
    for position, raw in enumerate(value, start=1):
        field = read_field(check, where, noun, position, raw, ids)
        if field is not None:
            ids.add(field.id)
            fields.append(field)
    return tuple(fields)


def read_field(check: Checker, campaign_where: str, noun: str, position: int, raw: Any, ids: set[str]) -> FormField | None:
    """The field at ``position`` (1-based) of a form, or None when it has a mistake."""
    if not isinstance(raw, Mapping):
        check.error(campaign_where, f"{noun} #{position} must be a mapping")
        return None
    field_id = raw.get("id")
    if not isinstance(field_id, str) or not FIELD_ID.match(field_id):
        check.error(campaign_where, f"{noun} #{position}: 'id' must be letters, digits or '_' (got {field_id!r})")
        return None
    where = f"{campaign_where}, {noun} '{field_id}'"
    errors_before = len(check.errors)
    if field_id in ids:
        check.error(where, "duplicate field id")
    check.keys(where, raw, FIELD_KEYS)
    try:
        field_type = FieldType(raw.get("type"))
    except ValueError:
        check.error(where, f"unknown type {raw.get('type')!r} (use one of {', '.join(t.value for t in FieldType)})")
        return None
    label = check.localized(where, raw["label"], "label", need_english=False) if "label" in raw else LocalizedText(es=field_id)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        check.error(where, f"'required' must be true or false (got {required!r})")

    def integer(key: str) -> int | None:
        value = raw.get(key)
        if value is None:
            return None
        if field_type not in LENGTH_TYPES:
            check.error(where, f"'{key}' applies only to text and paragraph fields, not {field_type.value}")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            check.error(where, f"'{key}' must be a whole number >= 0 (got {value!r})")
            return None
        return value

    def number(key: str) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if field_type is not FieldType.NUMBER:
            check.error(where, f"'{key}' applies only to number fields, not {field_type.value}")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            check.error(where, f"'{key}' must be a number (got {value!r})")
            return None
        return value

    min_length, max_length = integer("min_length"), integer("max_length")
    if min_length is not None and max_length is not None and min_length > max_length:
        check.error(where, f"min_length ({min_length}) is greater than max_length ({max_length})")
    minimum, maximum = number("min"), number("max")
    if minimum is not None and maximum is not None and minimum > maximum:
        check.error(where, f"min ({minimum}) is greater than max ({maximum})")
    options, option_labels = read_options(check, where, field_type, raw)
    prefill = read_prefill(check, where, raw)
    if len(check.errors) > errors_before or label is None:
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
            check.error(where, f"invalid default: {problem.message}")
        if len(check.errors) > errors_before:
            return None
    return field


def read_prefill(check: Checker, where: str, raw: Mapping[str, Any]) -> Prefill | None:
    """``prefill: {slot: x}`` / ``{entity: x}`` / ``{pattern: '...(group)...'}``, or the
    older shorthand ``prefill_from_slot: x`` (the same as ``prefill: {slot: x}``)."""
    if "prefill" in raw and "prefill_from_slot" in raw:
        check.error(where, "give either 'prefill' or 'prefill_from_slot', not both")
        return None
    if "prefill_from_slot" in raw:
        spec: Any = {"slot": raw["prefill_from_slot"]}
        what = "'prefill_from_slot'"
    elif "prefill" in raw:
        spec, what = raw["prefill"], "'prefill'"
    else:
        return None
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in PREFILL_KEYS:
        check.error(where, f"{what} must be one of {{slot: NAME}}, {{entity: NAME}} or {{pattern: 'REGEX'}} (got {spec!r})")
        return None
    ((key, value),) = spec.items()
    source = PrefillSource(key)
    if not isinstance(value, str) or not value.strip():
        check.error(where, f"{what}: the {source.value} must be a non-empty text (got {value!r})")
        return None
    if source is PrefillSource.PATTERN:
        try:
            groups = re.compile(value).groups
        except re.error as problem:
            check.error(where, f"{what}: the pattern '{value}' is not a valid regular expression: {problem}")
            return None
        if groups != 1:
            message = f"the pattern '{value}' must have exactly one group (...) around the value (has {groups})"
            check.error(where, f"{what}: {message}")
            return None
        return Prefill(source, value)
    check.known(where, source.value, value.strip(), what)
    return Prefill(source, value.strip())


def read_options(
    check: Checker, where: str, field_type: FieldType, raw: Mapping[str, Any]
) -> tuple[tuple[str, ...], dict[str, LocalizedText]]:
    """The option ids (the stored values) and their labels: an option is an id
    (``resuelto``, shown as is) or ``{id: cotizacion, label: {es: Cotización, en: Quote}}``."""
    value = raw.get("options")
    if field_type not in CHOICE_TYPES:
        if value is not None:
            check.error(where, f"'options' applies only to choice and list fields, not {field_type.value}")
        return (), {}
    if not isinstance(value, list) or not value:
        check.error(where, f"'options' must be a non-empty list for a {field_type.value} field")
        return (), {}
    ids: list[str] = []
    labels: dict[str, LocalizedText] = {}
    for position, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            ids.extend(check.text_list(where, [item], "'options'"))
            continue
        check.keys(f"{where}, option #{position}", item, OPTION_KEYS)
        option_id = check.text_list(f"{where}, option #{position}", [item.get("id")], "'id'")
        if not option_id:
            continue
        ids.append(option_id[0])
        if "label" in item:
            label = check.localized(f"{where}, option '{option_id[0]}'", item["label"], "label", need_english=False)
            if label is not None:
                labels[option_id[0]] = label
    duplicates = sorted({option for option in ids if ids.count(option) > 1})
    if duplicates:
        check.error(where, f"'options' lists {duplicates!r} more than once")
    return tuple(ids), labels
