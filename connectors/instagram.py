"""Instagram: ``object: "instagram"`` webhooks; texts are limited to 1000 bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.meta.channel import MetaInputChannel
from connectors.meta.limits import INSTAGRAM_LIMITS
from connectors.meta.output import MetaOutputChannel
from connectors.meta.profiles import Profile


class InstagramOutput(MetaOutputChannel):
    limits = INSTAGRAM_LIMITS

    @classmethod
    def name(cls) -> str:
        return "instagram"


def read_instagram_profile(customer_id: str, fields: Mapping[str, Any]) -> Profile:
    username = fields.get("username")
    name = fields.get("name") or username or customer_id
    return Profile(customer_id, name=name, picture_url=fields.get("profile_pic"), username=username)


class InstagramInput(MetaInputChannel):
    """Webhook at ``/webhooks/instagram/webhook``. Works with both API flavours: Facebook
    Login (graph.facebook.com, Page token) and Instagram Login (graph.instagram.com, an
    Instagram token), chosen by ``graph_url`` and ``access_token``."""

    channel = "instagram"
    webhook_object = "instagram"
    access_token_key = "access_token"
    limits = INSTAGRAM_LIMITS
    output_class = InstagramOutput
    profile_fields = "name,username,profile_pic"
    profile_reader = staticmethod(read_instagram_profile)
