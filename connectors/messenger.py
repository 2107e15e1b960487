"""Messenger: Page webhooks (``object: "page"``) and the Send API with a Page token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.meta.channel import MetaInputChannel
from connectors.meta.limits import MESSENGER_LIMITS
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import Profile


class MessengerOutput(MetaOutputChannel):
    limits = MESSENGER_LIMITS

    @classmethod
    def name(cls) -> str:
        return "messenger"


def read_messenger_profile(customer_id: str, fields: Mapping[str, Any]) -> Profile:
    name = " ".join(part for part in (fields.get("first_name"), fields.get("last_name")) if part)
    return Profile(customer_id, name=name or customer_id, picture_url=fields.get("profile_pic"))


class MessengerInput(MetaInputChannel):
    """Webhook at ``/webhooks/messenger/webhook``."""

    channel = "messenger"
    webhook_object = "page"
    access_token_key = "page_access_token"
    limits = MESSENGER_LIMITS
    output_class = MessengerOutput
    profile_fields = "first_name,last_name,profile_pic"
    profile_reader = staticmethod(read_messenger_profile)
