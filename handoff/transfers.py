"""What a transfer carries to whoever receives the attention.

The receiving agent must not start from nothing: the form keeps every value whose field
the target campaign also has, the fields it adds are pre-filled from what the bot
collected (kept on the attention for this), and the note becomes a system line in the
conversation and the attention's ``transfer`` (shown on the receiver's card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handoff.campaigns.forms import prefill_form
from handoff.campaigns.model import Conversation, FormField
from handoff.model import Attention

NOTE_MAX_LENGTH = 1000


def clean_note(note: str | None) -> str | None:
    text = (note or "").strip()
    return text[:NOTE_MAX_LENGTH] if text else None


def carried_form(current: Attention, target_fields: Sequence[FormField]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the target form's values, what is left behind): shared fields keep the agent's
    values; the target's other fields start from their ``prefill`` (the bot's values, or
    what the customer said in the bot's context), or their default."""
    wanted = {field.id for field in target_fields}
    kept = {name: value for name, value in current.form.items() if name in wanted}
    new_fields = [field for field in target_fields if field.id not in kept]
    prefilled = prefill_form(new_fields, current.bot_values, Conversation.from_context(current.context))
    dropped = {name: value for name, value in current.form.items() if name not in wanted}
    return {**prefilled, **kept}, dropped


def bot_values_after(current: Mapping[str, Any], collected: Mapping[str, Any]) -> dict[str, Any]:
    """The bot's values with what it collected since: newer values win, empty ones do not erase."""
    return {**current, **{name: value for name, value in collected.items() if value not in (None, "", [])}}
