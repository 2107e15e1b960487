"""The service API the action server calls (``/webhooks/desk/service/...``), with a token.

Custom actions create attentions, record form fields and end attentions through it; the
action server runs in another process, so this is plain HTTP with a bearer token.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.desk.http import BadRequest, domain_errors, error, json_body, ok, request_token
from handoff.errors import Conflict, NotFound
from handoff.headers import same_secret
from handoff.model import Attention
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


def _customer(body: dict[str, Any]) -> tuple[str, str, str]:
    try:
        return str(body["channel"]), str(body.get("account_id") or ""), str(body["customer_id"])
    except KeyError as missing:
        raise BadRequest(f"{missing.args[0]} is required") from None


def add_service_routes(api: Blueprint, service: ServiceGetter, token: Callable[[], str | None]) -> None:
    """The routes under ``/service`` of the desk channel's blueprint."""

    def service_token_required(handler: Any) -> Any:
        @functools.wraps(handler)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            expected = token()
            if not expected:
                return error(503, "the service API is off: set HANDOFF_SERVICE_TOKEN")
            if not same_secret(request_token(request), expected):
                return error(401, "a valid service token is required")
            return await handler(request, *args, **kwargs)

        return checked

    @api.post("/service/attentions")
    @service_token_required
    @domain_errors
    async def create(request: Request) -> HTTPResponse:
        body = json_body(request)
        channel, account_id, customer_id = _customer(body)
        handoff = service()
        existing = await handoff.active_attention(channel, account_id, customer_id)
        attention = existing or await handoff.request_handoff(
            channel,
            account_id,
            customer_id,
            intent=body.get("intent"),
            slots=body.get("slots") or {},
            context=body.get("context") or [],
            customer_name=body.get("customer_name"),
        )
        language = "en" if body.get("language") == "en" else "es"
        message = handoff.campaign(attention.campaign_id).handoff_message.in_language(language)
        return ok({"attention": attention_json(attention), "handoff_message": message}, status=200 if existing else 201)

    @api.get("/service/attentions/active")
    @service_token_required
    @domain_errors
    async def active(request: Request) -> HTTPResponse:
        channel, account_id, customer_id = _customer({key: request.args.get(key) for key in request.args})
        attention = await service().active_attention(channel, account_id, customer_id)
        if attention is None:
            raise NotFound("active attention", customer_id)
        return ok({"attention": attention_json(attention)})

    @api.post("/service/attentions/<attention_id:int>/form")
    @service_token_required
    @domain_errors
    async def record_form(request: Request, attention_id: int) -> HTTPResponse:
        body = json_body(request)
        if isinstance(body.get("slots"), dict):
            # The bot's slot names; the campaign's prefill_from_slot maps them to fields.
            attention = await service().record_slots_by_bot(attention_id, body["slots"])
        elif isinstance(body.get("values"), dict):
            attention = await service().record_form_by_bot(attention_id, body["values"])
        else:
            raise BadRequest("send values (field ids) or slots (slot names) as an object")
        return ok({"attention": attention_json(attention)})

    @api.post("/service/attentions/<attention_id:int>/terminate")
    @service_token_required
    @domain_errors
    async def terminate(request: Request, attention_id: int) -> HTTPResponse:
        reason = json_body(request).get("reason")
        handoff = service()
        current = await handoff.attention(attention_id)
        ended = None
        if current.is_active:
            ended = await handoff.terminate_by_bot(current.channel, current.account_id, current.customer_id, reason)
        if ended is None:
            raise Conflict(attention_id, "the attention is not active any more", current.state.value)
        return ok({"attention": attention_json(ended)})

