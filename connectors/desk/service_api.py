"""The service API the action server calls (``/webhooks/desk/service/...``), with a token.

Custom actions create attentions, record form fields and end attentions through it; the
action server runs in another process, so this is plain HTTP with a bearer token.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from pydantic import BaseModel, Field
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.desk import doors
from connectors.desk.http import BadRequest, domain_errors, json_body, ok
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict, NotFound
from handoff.model import Attention, Channel
from handoff.service import HandoffService

ServiceGetter = Callable[[], HandoffService]


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


class CustomerRef(BaseModel):
    """Whose attention: the channel, the page or Instagram account, the customer's id."""

    channel: Channel
    account_id: str = Field("", max_length=64)
    customer_id: str = Field(..., min_length=1, max_length=64)


class HandoffRequest(CustomerRef):
    """What ``action_handoff`` sends to hand the customer over."""

    intent: Optional[str] = Field(None, max_length=200)
    slots: dict[str, Any] = {}
    context: list[dict[str, Any]] = []
    customer_name: Optional[str] = Field(None, max_length=500)
    customer_picture_url: Optional[str] = Field(None, max_length=2000)  # the profile picture Meta gave
    reason: Optional[str] = Field(None, max_length=1000)  # why the customer asked for a person
    language: Optional[str] = None  # "en" for English; anything else: Spanish, the desk's first language


def add_service_routes(api: Blueprint, service: ServiceGetter) -> None:
    """The routes under ``/service`` of the desk channel's blueprint."""

    @api.post("/service/attentions", ctx_door=doors.SERVICE)
    @domain_errors
    async def create(request: Request) -> HTTPResponse:
        asked = HandoffRequest.parse_obj(json_body(request))
        handoff = service()
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

    @api.get("/service/attentions/active", ctx_door=doors.SERVICE)
    @domain_errors
    async def active(request: Request) -> HTTPResponse:
        whose = CustomerRef.parse_obj({key: request.args.get(key) for key in request.args})
        attention = await service().inbound.active_attention(whose.channel, whose.account_id, whose.customer_id)
        if attention is None:
            raise NotFound("active attention", whose.customer_id)
        return ok({"attention": attention_json(attention)})

    @api.post("/service/attentions/<attention_id:int>/form", ctx_door=doors.SERVICE)
    @domain_errors
    async def record_form(request: Request, attention_id: int) -> HTTPResponse:
        body = json_body(request)
        if isinstance(body.get("slots"), dict):
            # The bot's slot names; the campaign's `prefill: {slot: ...}` maps them to fields.
            attention = await service().forms.record_slots_by_bot(attention_id, body["slots"])
        elif isinstance(body.get("values"), dict):
            attention = await service().forms.record_by_bot(attention_id, body["values"])
        else:
            raise BadRequest("send values (field ids) or slots (slot names) as an object", field="values")
        return ok({"attention": attention_json(attention)})

    @api.post("/service/attentions/<attention_id:int>/terminate", ctx_door=doors.SERVICE)
    @domain_errors
    async def terminate(request: Request, attention_id: int) -> HTTPResponse:
        reason = json_body(request).get("reason")
        handoff = service()
        current = await handoff.attentions.get(attention_id)
        ended = None
        if current.is_active:
            ended = await handoff.attentions.terminate_by_bot(current.channel, current.account_id, current.customer_id, reason)
        if ended is None:
            raise Conflict(
                attention_id, "the attention is not active any more", current.state.value, code=ErrorCode.ATTENTION_ENDED
            )
        return ok({"attention": attention_json(ended)})

