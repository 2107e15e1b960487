"""Meta's messaging windows: what an agent may send, and how, given the customer's last message.

- Within 24 h of the customer's last message (or postback, reaction, referral): a normal
  ``RESPONSE``.
- From 24 h to 7 days: only ``MESSAGE_TAG`` with tag ``HUMAN_AGENT``, and only where the
  campaign enables it (the app needs Meta's Human Agent permission). Never for the bot.
- After that, nothing: the desk locks the composer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff.clock import as_utc
from handoff.errors import WindowClosed

RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

RESPONSE = "RESPONSE"
MESSAGE_TAG = "MESSAGE_TAG"
HUMAN_AGENT = "HUMAN_AGENT"


@dataclass(frozen=True)
class SendPolicy:
    """How Meta must be told a message is sent: ``messaging_type`` and maybe ``tag``."""

    messaging_type: str
    tag: str | None = None


@dataclass(frozen=True)
class Window:
    """The deadlines of one attention, for the desk's 24 h timer."""

    last_customer_message_at: datetime | None
    response_until: datetime | None  # end of the 24 h RESPONSE window
    human_agent_until: datetime | None  # end of the HUMAN_AGENT window (None: not allowed)

    def is_open(self, now: datetime) -> bool:
        until = self.human_agent_until or self.response_until
        return until is not None and as_utc(now) < until


def window_of(last_customer_message_at: datetime | None, human_agent_tag: bool) -> Window:
    if last_customer_message_at is None:
        return Window(None, None, None)
    last = as_utc(last_customer_message_at)
    return Window(last, last + RESPONSE_WINDOW, last + HUMAN_AGENT_WINDOW if human_agent_tag else None)


def send_policy(
    now: datetime,
    last_customer_message_at: datetime | None,
    human_agent_tag: bool,
    attention_id: int = 0,
) -> SendPolicy:
    """How an agent's message goes out now; WindowClosed when Meta would refuse it."""
    if last_customer_message_at is None:
        raise WindowClosed(attention_id, None, "the customer has not written yet; Meta allows no message")
    age = as_utc(now) - as_utc(last_customer_message_at)
    if age < RESPONSE_WINDOW:
        return SendPolicy(RESPONSE)
    if not human_agent_tag:
        raise WindowClosed(
            attention_id,
            last_customer_message_at,
            "the 24 h window since the customer's last message is closed and this campaign does not allow the HUMAN_AGENT tag",
        )
    if age < HUMAN_AGENT_WINDOW:
        return SendPolicy(MESSAGE_TAG, HUMAN_AGENT)
    raise WindowClosed(
        attention_id,
        last_customer_message_at,
        "more than 7 days since the customer's last message; not even HUMAN_AGENT is allowed",
    )
