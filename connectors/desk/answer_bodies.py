"""The answers of the desk's routes: each wraps records of ``connectors.desk.answers`` the
way its handler does (``{"attention": ...}``, ``{"labels": [...]}``); the route tables name
them (``routes.Answer``) and the document and the contract test read them from there."""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import StrictBool, StrictInt, StrictStr

from connectors.desk.answers import (
    REQUIRED,
    Agent,
    Campaign,
    Detail,
    HistoryDetail,
    HistoryItem,
    Label,
    Message,
    ServiceAttention,
    Shape,
    Summary,
    Time,
)
from connectors.desk.schemas import JsonObject
from handoff.model import Role

# -- sessions --------------------------------------------------------------------------------


class LoggedIn(Shape):
    token: StrictStr
    expires_at: Time
    agent: Agent


class AgentAnswer(Shape):
    agent: Agent


class AgentsAnswer(Shape):
    agents: list[Agent]


# -- attentions ------------------------------------------------------------------------------


class Counts(Shape):
    open: StrictInt
    queued: StrictInt


class AttentionList(Shape):
    attentions: list[Summary]
    counts: Counts


class AttentionAnswer(Shape):
    attention: Detail


class AttentionPage(Shape):
    attention: Detail
    messages: list[Message] = pydantic.Field(..., description="oldest first within the page")
    has_more: StrictBool


class MessageAnswer(Shape):
    message: Message


class MessagesSent(Shape):
    message: Message = pydantic.Field(..., description="the first message (the attachment, when there is one)")
    messages: list[Message] = pydantic.Field(..., description="it and its caption, in order")


class CampaignTarget(Shape):
    id: StrictStr
    name: StrictStr


class AgentTarget(Shape):
    id: StrictInt
    display_name: StrictStr
    role: Role
    online: StrictBool


class TransferTargets(Shape):
    campaigns: list[CampaignTarget]
    agents: list[AgentTarget]


# -- history, labels, uploads, campaigns -----------------------------------------------------


class HistoryPage(Shape):
    items: list[HistoryItem]
    next_cursor: StrictInt | None = pydantic.Field(..., description="the cursor of the next page; null: the last one")


class HistoryItemAnswer(Shape):
    item: HistoryDetail
    messages: list[Message]
    has_more: StrictBool


class LabelAnswer(Shape):
    label: Label


class LabelsAnswer(Shape):
    labels: list[Label]


class Uploaded(Shape):
    url: StrictStr
    type: Literal["image", "video", "audio", "file"]
    name: StrictStr
    size: StrictInt


class CampaignsAnswer(Shape):
    campaigns: list[Campaign]


# -- the supervisor's overview ---------------------------------------------------------------


class CampaignAgentLoad(Shape):
    id: StrictInt
    display_name: StrictStr | None = REQUIRED
    online: StrictBool
    open: StrictInt


class CampaignLoad(Shape):
    id: StrictStr
    name: StrictStr
    queued: StrictInt
    oldest_queued_since: Time | None = REQUIRED
    oldest_waiting_seconds: StrictInt | None = REQUIRED
    open: StrictInt
    agents_online: StrictInt
    agents: list[CampaignAgentLoad]


class AgentLoad(Agent):
    online: StrictBool
    last_seen_at: Time | None = REQUIRED
    open: StrictInt
    open_by_campaign: dict[StrictStr, StrictInt]


class Overview(Shape):
    at: Time
    campaigns: list[CampaignLoad]
    agents: list[AgentLoad]


class OpenApiDocument(Shape):
    """This document (its parts, not restated)."""

    openapi: StrictStr
    info: JsonObject
    servers: list[JsonObject]
    components: JsonObject
    security: list[JsonObject]
    paths: JsonObject


# -- the service API -------------------------------------------------------------------------


class ServiceAttentionAnswer(Shape):
    attention: ServiceAttention


class HandedOver(Shape):
    attention: ServiceAttention
    handoff_message: StrictStr = pydantic.Field(..., description="what the bot tells the customer, in the asked language")
