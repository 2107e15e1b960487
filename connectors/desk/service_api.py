"""The service API the action server calls (``/webhooks/desk/service/...``), with a token.

Custom actions create attentions, record form fields and end attentions through it; the
action server runs in another process, so this is plain HTTP with a bearer token. Its
routes are a table (:data:`SERVICE_ROUTES`), registered and documented from it; a body or
query its model refuses is 422 with ``fields`` (actions/handoff_api.py reads them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint
from sanic.response import HTTPResponse

from connectors.desk import answer_bodies as a
from connectors.desk import doors
from connectors.desk import schemas as s
from connectors.desk.http import BadRequest, ok
from connectors.desk.routes import Answer, Call, Route, register
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict, NotFound
from handoff.model import Attention
from handoff.service import HandoffService

ServiceGetter = Callable[[], HandoffService]
# The models' old home: importers of these names keep working.
CustomerRef, HandoffRequest = s.CustomerRef, s.HandoffRequest


def attention_json(attention: Attention) -> dict[str, Any]:
    return {
        "id": attention.id,
        "state": attention.state.value,
        "channel": attention.channel.value,
        "account_id": attention.account_id,
        "customer_id": attention.customer_id,
        "campaign_id": attention.campaign_id,
        "agent_id": attention.agent_id,
        "form": dict(attention.form),
        "created_at": attention.created_at,
    }


@dataclass(frozen=True)
class ServiceParts:
    """What the service API's handlers need: only the service (``Call.service``)."""

    getter: ServiceGetter

    @property
    def service(self) -> HandoffService:
        return self.getter()


async def create(call: Call) -> HTTPResponse:
    asked: s.HandoffRequest = call.body
    handoff = call.service
    existing = await handoff.inbound.active_attention(asked.channel, asked.account_id, asked.customer_id)
    attention = existing or await handoff.inbound.request_handoff(
        asked.channel,
        asked.account_id,
        asked.customer_id,
        intent=asked.intent,
        slots=asked.slots,
        context=asked.context,
        customer_name=asked.customer_name,
        customer_picture_url=asked.customer_picture_url,
        reason=asked.reason,
    )
    message = handoff.campaign(attention.campaign_id).handoff_message.in_language("en" if asked.language == "en" else "es")
    return ok({"attention": attention_json(attention), "handoff_message": message}, status=200 if existing else 201)


async def active(call: Call) -> HTTPResponse:
    whose: s.CustomerRef = call.query
    attention = await call.service.inbound.active_attention(whose.channel, whose.account_id, whose.customer_id)
    if attention is None:
        raise NotFound("active attention", whose.customer_id)
    return ok({"attention": attention_json(attention)})


async def record_form(call: Call, attention_id: int) -> HTTPResponse:
    slots, values = call.body.slots, call.body.values
    if isinstance(slots, dict):
        # The bot's slot names; the campaign's `prefill: {slot: ...}` maps them to fields.
        attention = await call.service.forms.record_slots_by_bot(attention_id, slots)
    elif isinstance(values, dict):
        attention = await call.service.forms.record_by_bot(attention_id, values)
    else:
        raise BadRequest("send values (field ids) or slots (slot names) as an object", field="values")
    return ok({"attention": attention_json(attention)})


async def terminate(call: Call, attention_id: int) -> HTTPResponse:
    handoff = call.service
    current = await handoff.attentions.get(attention_id)
    ended = None
    if current.is_active:
        ended = await handoff.attentions.terminate_by_bot(
            current.channel, current.account_id, current.customer_id, call.body.reason
        )
    if ended is None:
        raise Conflict(attention_id, "the attention is not active any more", current.state.value, code=ErrorCode.ATTENTION_ENDED)
    return ok({"attention": attention_json(ended)})


SERVICE = doors.SERVICE

# The action server's calls (actions/handoff_api.py), with HANDOFF_SERVICE_TOKEN. A refused
# body or query is 422 here: the actions read that status.
ServiceRoute = functools.partial(Route, invalid_status=422)
SERVICE_ROUTES = [
    ServiceRoute(
        "POST",
        "/service/attentions",
        SERVICE,
        create,
        "The customer's active attention, or a new queued one (the hand-over)",
        {200: Answer("already active", a.HandedOver), 201: Answer("queued", a.HandedOver)},
        body=s.HandoffRequest,
    ),
    ServiceRoute(
        "GET",
        "/service/attentions/active",
        SERVICE,
        active,
        "The customer's active attention",
        {200: Answer("active", a.ServiceAttentionAnswer), 404: Answer("none")},
        query=s.CustomerRef,
    ),
    ServiceRoute(
        "POST",
        "/service/attentions/<attention_id:int>/form",
        SERVICE,
        record_form,
        "Record form fields the bot collected (by field id, or by slot name)",
        {200: Answer("recorded", a.ServiceAttentionAnswer), 400: Answer("neither values nor slots is an object")},
        body=s.BotFormBody,
    ),
    ServiceRoute(
        "POST",
        "/service/attentions/<attention_id:int>/terminate",
        SERVICE,
        terminate,
        "End the customer's active attention (the customer left the queue)",
        {200: Answer("ended", a.ServiceAttentionAnswer), 409: Answer("not active any more")},
        body=s.BotTerminateBody,
    ),
]


def add_service_routes(api: Blueprint, service: ServiceGetter) -> None:
    """The routes under ``/service`` of the desk channel's blueprint."""
    register(api, SERVICE_ROUTES, ServiceParts(service))
