"""The desk's REST API under ``/webhooks/desk/api`` (docs/desk-api.md is the contract).

Every call but login (and the OpenAPI document) needs a session; each checks what the
caller may do: the visibility rule (``handoff.visibility``) for reading, the domain's
permissions for every change (``handoff.permissions``, raised as Forbidden -> 403).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional
from urllib.parse import unquote, urlparse

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from handoff import permissions, visibility
from connectors.desk import doors
from connectors.desk.accounts import InvalidSession, change_password, check_password_policy, create_account
from connectors.desk.auth import Session, TooManyAttempts, unauthorized
from connectors.desk.http import BadRequest, domain_errors, error, json_body, ok
from connectors.desk.openapi import openapi_document
from connectors.desk.parts import DeskParts
from connectors.desk.serializers import (
    agent_json,
    campaign_json,
    detail_json,
    history_detail_json,
    history_item_json,
    label_json,
    message_json,
    overview_json,
    summary_json,
)
from connectors.desk.uploads import MAX_UPLOAD_BYTES, TooLarge
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden, InvalidRequest
from handoff.history import DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE
from handoff.model import Agent, Attention, Channel, Direction
from handoff.ports import OutgoingAttachment
from handoff.queries import DEFAULT_PAGE_SIZE
from handoff.states import AttentionState
from connectors.storage.history import HistoryFilter

MAX_PAGE_SIZE = 200
MIN_SEARCH_LENGTH = 3
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _session(request: Request) -> Session:
    return request.ctx.session


def _agent(request: Request) -> Agent:
    return _session(request).agent


def _language(request: Request) -> str:
    return "en" if request.args.get("lang") == "en" else "es"


def _int_arg(request: Request, name: str, default: Optional[int], low: int, high: int) -> Optional[int]:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", field=name, min=low, max=high)
    return value


def _values(body: dict[str, Any], required: bool = True) -> dict[str, Any]:
    values = body.get("values")
    if values is None and not required:
        return {}
    if not isinstance(values, dict):
        raise BadRequest("values must be an object of field ids and values", field="values")
    return values


def _time_arg(request: Request, name: str, end: bool = False) -> Optional[datetime]:
    """A day (``2026-11-25``) or an ISO 8601 time. A day as ``to`` means up to its end."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=timezone.utc)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time", field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _choice_arg(request: Request, name: str, allowed: set[str]) -> Optional[str]:
    raw = request.args.get(name) or None
    if raw is not None and raw not in allowed:
        raise BadRequest(f"{name} is one of {', '.join(sorted(allowed))}", field=name)
    return raw


def _client_address(request: Request) -> str:
    """The real client's address, for the login limits. Sanic's ``remote_addr`` reads
    ``Forwarded``/``X-Forwarded-For``/a real-IP header only as its config allows
    (``SANIC_FORWARDED_SECRET``, ``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``) and is
    empty otherwise: then the socket's peer counts, so nobody picks an address by header."""
    return request.remote_addr or request.ip or "unknown"


def add_api_routes(desk: Blueprint, channel: DeskParts) -> None:
    """The REST routes, on the desk channel's blueprint."""
    def service():  # type: ignore[no-untyped-def]
        return channel.service

    async def viewable(agent: Agent, attention_id: int) -> Attention:
        attention = await service().attention(attention_id)
        if not visibility.can_see(agent, attention):
            raise Forbidden(
                f"agent {agent.id}", f"attention {attention_id} is not one of yours",
                code=ErrorCode.ATTENTION_NOT_YOURS, attention_id=attention_id
            )
        return attention

    async def detail_of(attention: Attention, request: Request) -> dict[str, Any]:
        [summary] = await service().queries.summaries([attention])
        campaign = service().campaigns.campaigns.get(attention.campaign_id)
        return detail_json(summary, campaign, _language(request), viewer=_agent(request))

    # -- authentication -------------------------------------------------------------------

    @desk.post("/api/login", ctx_door=doors.LOGIN)
    @domain_errors
    async def api_login(request: Request) -> HTTPResponse:
        body = json_body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            raise BadRequest("username and password are required", code=ErrorCode.AUTH_WRONG_CREDENTIALS)
        try:
            issued, agent = await channel.auth.login(username, password, _client_address(request))
        except TooManyAttempts as problem:
            answer = error(429, str(problem), code=ErrorCode.AUTH_TOO_MANY_ATTEMPTS, params={"retry_after": problem.retry_after},
                           retry_after=problem.retry_after)  # fmt: skip
            answer.headers["Retry-After"] = str(problem.retry_after)
            return answer
        except InvalidSession as problem:
            return unauthorized(str(problem), problem.code)
        await service().agent_seen(agent.id)
        return ok({"token": issued.token, "expires_at": issued.expires_at, "agent": agent_json(agent)})

    @desk.post("/api/logout", ctx_door=doors.AGENT)
    @domain_errors
    async def api_logout(request: Request) -> HTTPResponse:
        session = _session(request)
        return_to_queue = json_body(request).get("return_to_queue", False)
        if not isinstance(return_to_queue, bool):
            raise BadRequest("return_to_queue must be true or false", field="return_to_queue")
        if return_to_queue:
            await service().release_open_attentions(_agent(request))
        channel.auth.logout(session)
        await channel.live.end_session(session)
        return response.empty(status=204)

    @desk.get("/api/me", ctx_door=doors.AGENT)
    async def api_me(request: Request) -> HTTPResponse:
        return ok({"agent": agent_json(_agent(request))})

    # -- attentions -----------------------------------------------------------------------

    @desk.get("/api/attentions", ctx_door=doors.AGENT)
    @domain_errors
    async def api_attentions(request: Request) -> HTTPResponse:
        agent = _agent(request)
        channel_name = request.args.get("channel") or None
        if channel_name is not None and channel_name not in {item.value for item in Channel}:
            raise BadRequest("channel is messenger or instagram", field="channel")
        search = (request.args.get("q") or "").strip()
        queries = service().queries
        everything = await queries.attentions_for(agent, all_open=agent.is_supervisor, channel=channel_name)
        counts = {
            "open": sum(1 for item in everything if item.attention.state is AttentionState.OPEN),
            "queued": sum(1 for item in everything if item.attention.state is AttentionState.QUEUED),
        }
        listed = everything
        if len(search) >= MIN_SEARCH_LENGTH:
            listed = await queries.attentions_for(agent, all_open=agent.is_supervisor, channel=channel_name, search=search)
        return ok({"attentions": [summary_json(item, agent) for item in listed], "counts": counts})

    @desk.get("/api/attentions/<attention_id:int>", ctx_door=doors.AGENT)
    @domain_errors
    async def api_attention(request: Request, attention_id: int) -> HTTPResponse:
        agent = _agent(request)
        before = _int_arg(request, "before", None, 1, 2**62)
        limit = _int_arg(request, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        attention = await viewable(agent, attention_id)
        page = await service().queries.detail(attention.id, before_message_id=before, limit=limit or DEFAULT_PAGE_SIZE)
        return ok(
            {
                "attention": await detail_of(page.attention, request),
                "messages": [message_json(message) for message in reversed(page.messages)],
                "has_more": page.has_more,
            }
        )

    @desk.post("/api/attentions/<attention_id:int>/open", ctx_door=doors.AGENT)
    @domain_errors
    async def api_open(request: Request, attention_id: int) -> HTTPResponse:
        opened = await service().open(attention_id, _agent(request))
        return ok({"attention": await detail_of(opened, request)})

    @desk.post("/api/attentions/<attention_id:int>/messages", ctx_door=doors.AGENT)
    @domain_errors
    async def api_send(request: Request, attention_id: int) -> HTTPResponse:
        body = json_body(request)
        text, raw = body.get("text"), body.get("attachment")
        if text is not None and not isinstance(text, str):
            raise BadRequest("text must be a text", field="text")
        attachment = None
        if raw is not None:
            if not isinstance(raw, dict) or not isinstance(raw.get("url"), str) or not isinstance(raw.get("type"), str):
                raise BadRequest("attachment must be {\"type\", \"url\"}", field="attachment")
            if urlparse(raw["url"]).scheme not in ("http", "https"):
                raise InvalidRequest("the attachment url must be an http(s) URL", code=ErrorCode.ATTACHMENT_URL)
            filename = raw.get("filename") if isinstance(raw.get("filename"), str) else None
            attachment = OutgoingAttachment(type=raw["type"], url=raw["url"], filename=filename)
        if attachment is not None:
            # With an attachment, the text is its caption: a message of its own, right after it.
            pair = await service().send_agent_attachment(attention_id, _agent(request), attachment, text)
            return ok({"message": message_json(pair[0]), "messages": [message_json(sent) for sent in pair]}, status=201)
        sent = await service().send_agent_message(attention_id, _agent(request), text, attachment)
        return ok({"message": message_json(sent), "messages": [message_json(sent)]}, status=201)

    @desk.post("/api/messages/<message_id:int>/retry", ctx_door=doors.AGENT)
    @domain_errors
    async def api_retry(request: Request, message_id: int) -> HTTPResponse:
        retried = await service().retry_message(message_id, _agent(request))
        return ok({"message": message_json(retried)})

    @desk.put("/api/attentions/<attention_id:int>/form", ctx_door=doors.AGENT)
    @domain_errors
    async def api_save_form(request: Request, attention_id: int) -> HTTPResponse:
        saved = await service().save_form(attention_id, _agent(request), _values(json_body(request)))
        return ok({"attention": await detail_of(saved, request)})

    @desk.post("/api/attentions/<attention_id:int>/terminate", ctx_door=doors.AGENT)
    @domain_errors
    async def api_terminate(request: Request, attention_id: int) -> HTTPResponse:
        ended = await service().terminate(attention_id, _agent(request), _values(json_body(request), required=False))
        return ok({"attention": await detail_of(ended, request)})

    @desk.post("/api/attentions/<attention_id:int>/read", ctx_door=doors.AGENT)
    @domain_errors
    async def api_read(request: Request, attention_id: int) -> HTTPResponse:
        agent = _agent(request)
        up_to = json_body(request).get("up_to_message_id")
        if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 1:
            raise BadRequest("up_to_message_id must be a message id", field="up_to_message_id")
        attention = await viewable(agent, attention_id)
        if attention.last_message_id is not None:  # never past the attention's own messages
            await service().mark_read(attention.id, agent, min(up_to, attention.last_message_id))
        return response.empty(status=204)

    @desk.post("/api/attentions/<attention_id:int>/transfer", ctx_door=doors.AGENT)
    @domain_errors
    async def api_transfer(request: Request, attention_id: int) -> HTTPResponse:
        agent = _agent(request)
        body = json_body(request)
        campaign_id, target_id, note = body.get("campaign_id"), body.get("agent_id"), body.get("note")
        if (campaign_id is None) == (target_id is None):
            raise BadRequest("give campaign_id or agent_id (one of them)", field="campaign_id")
        if campaign_id is not None and not isinstance(campaign_id, str):
            raise BadRequest("campaign_id must be a campaign id", field="campaign_id")
        if target_id is not None and (not isinstance(target_id, int) or isinstance(target_id, bool)):
            raise BadRequest("agent_id must be an agent id", field="agent_id")
        if note is not None and (not isinstance(note, str) or len(note) > 1000):
            raise BadRequest("note must be a text of up to 1000 characters", field="note")
        await viewable(agent, attention_id)
        if campaign_id is not None:
            moved = await service().transfer_to_campaign(attention_id, agent, campaign_id, note=note or None)
        else:
            moved = await service().transfer_to_agent(attention_id, agent, target_id, note=note or None)
        return ok({"attention": await detail_of(moved, request)})

    @desk.get("/api/attentions/<attention_id:int>/transfer-targets", ctx_door=doors.AGENT)
    @domain_errors
    async def api_transfer_targets(request: Request, attention_id: int) -> HTTPResponse:
        agent = _agent(request)
        attention = await viewable(agent, attention_id)
        permissions.require_owner(agent, attention, supervisor_may=True)
        handoff = service()
        campaigns = [
            {"id": campaign.id, "name": campaign.name}
            for campaign in handoff.campaigns.campaigns.values()
            if campaign.id != attention.campaign_id and campaign.serves(attention.channel, attention.account_id)
        ]
        people = [
            person for person in await handoff.agents()
            if person.active and person.id != attention.agent_id and person.serves(attention.campaign_id)
        ]  # fmt: skip
        online = await handoff.online([person.id for person in people])
        agents = [{"id": person.id, "display_name": person.display_name, "role": person.role.value, "online": online[person.id][0]}
                  for person in people]  # fmt: skip
        return ok({"campaigns": campaigns, "agents": agents})

    # -- history --------------------------------------------------------------------------

    @desk.get("/api/history", ctx_door=doors.AGENT)
    @domain_errors
    async def api_history(request: Request) -> HTTPResponse:
        agent = _agent(request)
        campaign_id = request.args.get("campaign_id") or None
        if campaign_id is not None and not agent.is_supervisor and campaign_id not in agent.campaigns:
            raise Forbidden(
                f"agent {agent.id}", f"campaign '{campaign_id}' is not one of yours",
                code=ErrorCode.CAMPAIGN_NOT_YOURS, campaign_id=campaign_id
            )
        where = HistoryFilter(
            keyword=(request.args.get("q") or "").strip() or None,
            ended_from=_time_arg(request, "from"),
            ended_before=_time_arg(request, "to", end=True),
            campaign_id=campaign_id,
            label_id=_int_arg(request, "label_id", None, 1, 2**62),
            agent_id=_int_arg(request, "agent_id", None, 1, 2**62),
            channel=_choice_arg(request, "channel", {item.value for item in Channel}),
            direction=_choice_arg(request, "direction", {item.value for item in Direction}),
        )
        page = await service().history.search(
            agent, where, before=_int_arg(request, "cursor", None, 1, 2**62),
            limit=_int_arg(request, "limit", DEFAULT_HISTORY_PAGE, 1, MAX_HISTORY_PAGE) or DEFAULT_HISTORY_PAGE,
        )  # fmt: skip
        return ok({"items": [history_item_json(item) for item in page.items], "next_cursor": page.next_cursor})

    @desk.get("/api/history/<attention_id:int>", ctx_door=doors.AGENT)
    @domain_errors
    async def api_history_item(request: Request, attention_id: int) -> HTTPResponse:
        detail = await service().history.detail(
            _agent(request), attention_id, before_message_id=_int_arg(request, "before", None, 1, 2**62),
            limit=_int_arg(request, "limit", 200, 1, 500) or 200,
        )  # fmt: skip
        return ok(
            {
                "item": history_detail_json(detail, _language(request)),
                "messages": [message_json(message) for message in reversed(detail.messages)],
                "has_more": detail.has_more,
            }
        )

    @desk.post("/api/history/<attention_id:int>/outbound", ctx_door=doors.AGENT)
    @domain_errors
    async def api_start_outbound(request: Request, attention_id: int) -> HTTPResponse:
        campaign_id = json_body(request).get("campaign_id")
        if campaign_id is not None and not isinstance(campaign_id, str):
            raise BadRequest("campaign_id must be a campaign id", field="campaign_id")
        started = await service().start_outbound(_agent(request), attention_id, campaign_id or None)
        return ok({"attention": await detail_of(started, request)}, status=201)

    # -- labels ---------------------------------------------------------------------------

    @desk.get("/api/labels", ctx_door=doors.AGENT)
    @domain_errors
    async def api_labels(request: Request) -> HTTPResponse:
        everything = request.args.get("all") in ("1", "true") and _agent(request).is_supervisor
        return ok({"labels": [label_json(label) for label in await service().labels(include_retired=everything)]})

    @desk.patch("/api/labels/<label_id:int>", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_update_label(request: Request, label_id: int) -> HTTPResponse:
        body = json_body(request)
        unknown = sorted(set(body) - {"name", "colour", "retired"})
        if unknown:
            raise BadRequest(f"unknown fields {unknown}", field=", ".join(unknown))
        if "name" in body and not isinstance(body["name"], str):
            raise BadRequest("name must be a text", field="name")
        if "colour" in body and not isinstance(body["colour"], str):
            raise BadRequest("colour must be a text (#rrggbb)", field="colour")
        if "retired" in body and not isinstance(body["retired"], bool):
            raise BadRequest("retired must be true or false", field="retired")
        changed = await service().update_label(
            _agent(request), label_id, name=body.get("name"), colour=body.get("colour"), retired=body.get("retired")
        )
        return ok({"label": label_json(changed)})

    @desk.post("/api/labels", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_create_label(request: Request) -> HTTPResponse:
        body = json_body(request)
        name, colour = body.get("name"), body.get("colour") or "#888888"
        if not isinstance(name, str):
            raise BadRequest("name is required", field="name")
        if not isinstance(colour, str) or not _COLOUR.match(colour):
            raise InvalidRequest("colour is #rrggbb", code=ErrorCode.LABEL_COLOUR)
        created = await service().create_label(_agent(request), name, colour)
        return ok({"label": label_json(created)}, status=201)

    @desk.post("/api/attentions/<attention_id:int>/labels/<label_id:int>", ctx_door=doors.AGENT)
    @domain_errors
    async def api_apply_label(request: Request, attention_id: int, label_id: int) -> HTTPResponse:
        agent = _agent(request)
        await viewable(agent, attention_id)
        after = await service().apply_label(attention_id, agent, label_id)
        return ok({"attention": await detail_of(after, request)})

    @desk.delete("/api/attentions/<attention_id:int>/labels/<label_id:int>", ctx_door=doors.AGENT)
    @domain_errors
    async def api_remove_label(request: Request, attention_id: int, label_id: int) -> HTTPResponse:
        agent = _agent(request)
        await viewable(agent, attention_id)
        after = await service().remove_label(attention_id, agent, label_id)
        return ok({"attention": await detail_of(after, request)})

    # -- uploads --------------------------------------------------------------------------

    @desk.post("/api/uploads", ctx_door=doors.upload_door(MAX_UPLOAD_BYTES))
    @domain_errors
    async def api_upload(request: Request) -> HTTPResponse:
        upload = request.files.get("file") if request.files else None
        if upload is None:
            raise BadRequest("send the file as multipart/form-data in the field 'file'", code=ErrorCode.UPLOAD_MISSING)
        try:
            # Some clients percent-encode non-ASCII names in the multipart header.
            saved = channel.uploads.save(unquote(upload.name or ""), upload.type, upload.body)
        except TooLarge as problem:
            return error(
                413, str(problem), code=ErrorCode.UPLOAD_TOO_LARGE, params={"limit_mb": MAX_UPLOAD_BYTES // (1024 * 1024)}
            )
        return ok({"url": saved.url, "type": saved.type, "name": saved.name, "size": saved.size}, status=201)

    # -- campaigns and agents (supervisors) ----------------------------------------------

    @desk.get("/api/campaigns", ctx_door=doors.AGENT)
    async def api_campaigns(_request: Request) -> HTTPResponse:
        return ok({"campaigns": [campaign_json(campaign) for campaign in service().campaigns.campaigns.values()]})

    @desk.get("/api/agents", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_agents(_request: Request) -> HTTPResponse:
        return ok({"agents": [agent_json(agent) for agent in await service().agents()]})

    @desk.post("/api/agents", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_create_agent(request: Request) -> HTTPResponse:
        body = json_body(request)
        campaigns = body.get("campaigns") or []
        if not isinstance(campaigns, list) or not all(isinstance(item, str) for item in campaigns):
            raise BadRequest("campaigns must be a list of campaign ids", field="campaigns")
        for key in ("username", "password"):
            if not isinstance(body.get(key), str):
                raise BadRequest(f"{key} is required", field=key)
        display_name = body.get("display_name")
        created = await create_account(
            service(), body["username"], body["password"],
            display_name=display_name if isinstance(display_name, str) else None,
            role=body.get("role") or "agent", campaigns=campaigns,
        )  # fmt: skip
        return ok({"agent": agent_json(created)}, status=201)

    @desk.patch("/api/agents/<agent_id:int>", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_update_agent(request: Request, agent_id: int) -> HTTPResponse:
        body = json_body(request)
        handoff = service()
        current = await handoff.agent(agent_id)
        unknown = sorted(set(body) - {"active", "campaigns", "display_name", "password"})
        if unknown:
            raise BadRequest(f"unknown fields {unknown}", field=", ".join(unknown))
        if "active" in body and not isinstance(body["active"], bool):
            raise BadRequest("active must be true or false", field="active")
        if "campaigns" in body and (not isinstance(body["campaigns"], list) or not all(isinstance(i, str) for i in body["campaigns"])):
            raise BadRequest("campaigns must be a list of campaign ids", field="campaigns")
        if "display_name" in body and not isinstance(body["display_name"], str):
            raise BadRequest("display_name must be a text", field="display_name")
        if body.get("active") is False and current.id == _agent(request).id:
            raise InvalidRequest("a supervisor cannot deactivate their own account", code=ErrorCode.AGENT_SELF_DEACTIVATE)
        # Everything is checked before anything changes.
        if "display_name" in body and not body["display_name"].strip():
            raise InvalidRequest("an agent needs a display name", code=ErrorCode.AGENT_DISPLAY_NAME)
        unknown_campaigns = sorted(set(body.get("campaigns") or ()) - set(handoff.campaigns.campaigns))
        if unknown_campaigns:
            raise InvalidRequest(
                f"unknown campaigns {unknown_campaigns}", code=ErrorCode.CAMPAIGN_UNKNOWN, campaigns=list(unknown_campaigns)
            )
        if "password" in body:
            check_password_policy(body["password"])
        if "display_name" in body:
            current = await handoff.set_agent_display_name(agent_id, body["display_name"])
        if "campaigns" in body:
            current = await handoff.set_agent_campaigns(agent_id, body["campaigns"])
        if "password" in body:
            current = await change_password(handoff, agent_id, body["password"])
        if "active" in body and body["active"] != current.active:
            current = await handoff.set_agent_active(agent_id, body["active"])
            if not current.active:
                await handoff.agent_left(agent_id)
        await channel.live.agent_changed(current, password_changed="password" in body)
        return ok({"agent": agent_json(current)})

    @desk.get("/api/supervisor/overview", ctx_door=doors.SUPERVISOR)
    @domain_errors
    async def api_overview(request: Request) -> HTTPResponse:
        return ok(overview_json(await service().overview(_agent(request))))

    # -- the contract ---------------------------------------------------------------------

    @desk.get("/api/openapi.json", ctx_door=doors.PUBLIC)
    async def api_openapi(_request: Request) -> HTTPResponse:
        return response.json(openapi_document())
