"""Attention form values: checking them against a campaign's form and pre-filling them.

Used by the service on terminate (required fields) and form saves, and by the desk for its
422 answers; each error names its field, so the desk can show it next to that field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from handoff.campaigns.model import CHOICE_TYPES, LENGTH_TYPES, NO_CONVERSATION, Conversation, FieldType, FormField
from handoff.errors import FieldError


def is_blank(value: Any) -> bool:
    """Nothing entered: None, an empty or blank string, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set)):
        return len(value) == 0
    return False


def as_number(value: Any) -> float | None:
    """The number in ``value`` (a number or a numeric string), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def validate_value(field: FormField, value: Any) -> list[FieldError]:
    """Errors of one non-blank value (the ``required`` rule is checked by validate_form)."""

    def error(code: str, message: str, **params: Any) -> list[FieldError]:
        return [FieldError(field.id, code, message, params)]

    if field.type in LENGTH_TYPES:
        if not isinstance(value, str):
            return error("not_text", "must be text")
        length = len(value.strip())
        if field.min_length is not None and length < field.min_length:
            return error(
                "too_short",
                f"must have at least {field.min_length} characters (has {length})",
                min=field.min_length,
                length=length,
            )
        if field.max_length is not None and length > field.max_length:
            return error(
                "too_long", f"must have at most {field.max_length} characters (has {length})", max=field.max_length, length=length
            )
        return []
    if field.type is FieldType.NUMBER:
        number = as_number(value)
        if number is None:
            return error("not_a_number", f"must be a number, not {value!r}")
        if field.min is not None and number < field.min:
            return error("below_min", f"must be at least {_number_text(field.min)} (is {_number_text(number)})", min=field.min)
        if field.max is not None and number > field.max:
            return error("above_max", f"must be at most {_number_text(field.max)} (is {_number_text(number)})", max=field.max)
        return []
    if field.type is FieldType.MULTIPLE_CHOICE:
        if not isinstance(value, (list, tuple)):
            return error("not_a_list", "must be a list of options")
        strangers = [item for item in value if item not in field.options]
        if strangers:
            return error("not_an_option", f"{strangers!r} not among the options {list(field.options)!r}")
        return []
    if field.type in CHOICE_TYPES:
        if value not in field.options:
            return error("not_an_option", f"{value!r} is not one of the options {list(field.options)!r}")
        return []
    if field.type is FieldType.DATE:
        if isinstance(value, date):
            return []
        if isinstance(value, str):
            try:
                date.fromisoformat(value.strip())
                return []
            except ValueError:
                pass
        return error("invalid_date", f"must be a date as YYYY-MM-DD, not {value!r}")
    return []  # pragma: no cover - every FieldType is handled above


def validate_form(fields: Sequence[FormField], values: Mapping[str, Any], *, check_required: bool = True) -> list[FieldError]:
    """Every error of ``values`` against the form, in the form's order (unknown fields last).

    ``check_required=False`` checks only what was entered: a draft saved mid-attention.
    """
    errors: list[FieldError] = []
    for field in fields:
        value = values.get(field.id)
        if is_blank(value):
            if check_required and field.required:
                errors.append(FieldError(field.id, "required", "is required"))
            continue
        errors.extend(validate_value(field, value))
    known = {field.id for field in fields}
    errors.extend(FieldError(name, "unknown_field", "is not a field of this form") for name in values if name not in known)
    return errors


def normalize_value(field: FormField, value: Any) -> Any:
    """A valid value in the form it is stored: numbers as numbers, dates as ISO text."""
    if is_blank(value):
        return None
    if field.type is FieldType.NUMBER:
        number = as_number(value)
        return int(number) if number is not None and number.is_integer() else number
    if field.type is FieldType.DATE and isinstance(value, date):
        return value.isoformat()
    if field.type is FieldType.MULTIPLE_CHOICE:
        return list(value)
    if isinstance(value, str):
        return value.strip()
    return value


def normalize_form(fields: Iterable[FormField], values: Mapping[str, Any]) -> dict[str, Any]:
    by_id = {field.id: field for field in fields}
    return {name: normalize_value(by_id[name], value) for name, value in values.items() if name in by_id}


def prefill_form(
    fields: Sequence[FormField], slots: Mapping[str, Any], conversation: Conversation = NO_CONVERSATION
) -> dict[str, Any]:
    """Initial values: what each field's ``prefill`` finds (a slot the bot collected, an
    entity or a pattern in what the customer wrote) when it is valid, else its default.

    An invalid value is left out rather than shown: the agent then sees an empty field
    to fill instead of a wrong one to notice.
    """
    values: dict[str, Any] = {}
    for field in fields:
        value = field.prefill.value(slots, conversation) if field.prefill is not None else None
        if field.type is FieldType.MULTIPLE_CHOICE and isinstance(value, str):
            value = [value]
        if field.type in LENGTH_TYPES and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # a slot may hold an order number as a number
        if not is_blank(value) and not validate_value(field, value):
            values[field.id] = normalize_value(field, value)
        elif field.default is not None:
            values[field.id] = normalize_value(field, field.default)
    return values
