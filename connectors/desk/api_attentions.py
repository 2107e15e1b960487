"""The desk's REST API, first half: sessions and attentions (the tables
:data:`SESSION_ROUTES` and :data:`ATTENTION_ROUTES`, part of ``connectors.desk.api``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sanic import response
from sanic.response import HTTPResponse

from connectors.desk import answer_bodies as a
from connectors.desk import doors
from connectors.desk import schemas as s
from connectors.desk.accounts import InvalidSession
from connectors.desk.auth import TooManyAttempts, unauthorized
from connectors.desk.http import error, ok
from connectors.desk.routes import Answer, Call, Route
from connectors.desk.serializers import agent_json, detail_json, message_json, summary_json
from handoff import permissions, visibility
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden, InvalidRequest
from handoff.model import Agent, Attention
from handoff.ports import OutgoingAttachment
from handoff.service import HandoffService
from handoff.states import AttentionState


async def viewable(service: HandoffService, agent: Agent, attention_id: int) -> Attention:
    attention = await service.attentions.get(attention_id)
    if not visibility.can_see(agent, attention):
        raise Forbidden(
            f"agent {agent.id}",
            f"attention {attention_id} is not one of yours",
            code=ErrorCode.ATTENTION_NOT_YOURS,
            attention_id=attention_id,
        )
    return attention


async def detail_of(call: Call, attention: Attention) -> dict[str, Any]:
    [summary] = await call.service.queries.summaries([attention])
    campaign = call.service.campaigns.campaigns.get(attention.campaign_id)
    return detail_json(summary, campaign, call.language, viewer=call.agent)


async def attention_answer(call: Call, attention: Attention, status: int = 200) -> HTTPResponse:
    return ok({"attention": await detail_of(call, attention)}, status=status)


def _client_address(call: Call) -> str:
    """The real client's address, for the login limits. Sanic's ``remote_addr`` reads
    ``Forwarded``/``X-Forwarded-For``/a real-IP header only as its config allows
    (``SANIC_FORWARDED_SECRET``, ``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``) and is
    empty otherwise: then the socket's peer counts, so nobody picks an address by header."""
    return call.request.remote_addr or call.request.ip or "unknown"


# -- sessions -------------------------------------------------------------------------------


async def api_login(call: Call) -> HTTPResponse:
    asked: s.LoginBody = call.body
    try:
        issued, agent = await call.parts.auth.login(asked.username, asked.password, _client_address(call))
    except TooManyAttempts as problem:
        answer = error(
            429,
            str(problem),
            code=ErrorCode.AUTH_TOO_MANY_ATTEMPTS,
            params={"retry_after": problem.retry_after},
            retry_after=problem.retry_after,
        )
        answer.headers["Retry-After"] = str(problem.retry_after)
        return answer
    except InvalidSession as problem:
        return unauthorized(str(problem), problem.code)
    await call.service.presence.seen(agent.id)
    return ok({"token": issued.token, "expires_at": issued.expires_at, "agent": agent_json(agent)})


async def api_logout(call: Call) -> HTTPResponse:
    if call.body.return_to_queue:
        await call.service.attentions.release_all(call.agent)
    call.parts.auth.logout(call.session)
    await call.parts.live.end_session(call.session)
    return response.empty(status=204)


async def api_me(call: Call) -> HTTPResponse:
    return ok({"agent": agent_json(call.agent)})


# -- attentions -----------------------------------------------------------------------------


async def api_attentions(call: Call) -> HTTPResponse:
    agent, asked = call.agent, call.query
    channel_name = asked.channel.value if asked.channel else None
    queries = call.service.queries
    everything = await queries.attentions_for(agent, all_open=agent.is_supervisor, channel=channel_name)
    counts = {
        "open": sum(1 for item in everything if item.attention.state is AttentionState.OPEN),
        "queued": sum(1 for item in everything if item.attention.state is AttentionState.QUEUED),
    }
    listed = everything
    if len(asked.search) >= s.MIN_SEARCH_LENGTH:
        listed = await queries.attentions_for(agent, all_open=agent.is_supervisor, channel=channel_name, search=asked.search)
    return ok({"attentions": [summary_json(item, agent) for item in listed], "counts": counts})


async def api_attention(call: Call, attention_id: int) -> HTTPResponse:
    attention = await viewable(call.service, call.agent, attention_id)
    page = await call.service.queries.detail(attention.id, before_message_id=call.query.before, limit=call.query.limit)
    return ok(
        {
            "attention": await detail_of(call, page.attention),
            "messages": [message_json(message) for message in reversed(page.messages)],
            "has_more": page.has_more,
        }
    )


async def api_open(call: Call, attention_id: int) -> HTTPResponse:
    return await attention_answer(call, await call.service.attentions.open(attention_id, call.agent))


async def api_send(call: Call, attention_id: int) -> HTTPResponse:
    text, raw = call.body.text, call.body.attachment
    if raw is not None:
        if urlparse(raw.url).scheme not in ("http", "https"):
            raise InvalidRequest("the attachment url must be an http(s) URL", code=ErrorCode.ATTACHMENT_URL)
        attachment = OutgoingAttachment(type=raw.type, url=raw.url, filename=raw.filename)
        # With an attachment, the text is its caption: a message of its own, right after it.
        pair = await call.service.outbox.send_agent_attachment(attention_id, call.agent, attachment, text)
        return ok({"message": message_json(pair[0]), "messages": [message_json(sent) for sent in pair]}, status=201)
    sent = await call.service.outbox.send_agent_message(attention_id, call.agent, text, None)
    return ok({"message": message_json(sent), "messages": [message_json(sent)]}, status=201)


async def api_retry(call: Call, message_id: int) -> HTTPResponse:
    return ok({"message": message_json(await call.service.outbox.retry(message_id, call.agent))})


async def api_save_form(call: Call, attention_id: int) -> HTTPResponse:
    return await attention_answer(call, await call.service.forms.save(attention_id, call.agent, call.body.values))


async def api_terminate(call: Call, attention_id: int) -> HTTPResponse:
    return await attention_answer(call, await call.service.attentions.terminate(attention_id, call.agent, call.body.values or {}))


async def api_read(call: Call, attention_id: int) -> HTTPResponse:
    attention = await viewable(call.service, call.agent, attention_id)
    if attention.last_message_id is not None:  # never past the attention's own messages
        await call.service.receipts.mark_read(
            attention.id, call.agent, min(call.body.up_to_message_id, attention.last_message_id)
        )
    return response.empty(status=204)


async def api_transfer(call: Call, attention_id: int) -> HTTPResponse:
    agent, asked = call.agent, call.body
    await viewable(call.service, agent, attention_id)
    if asked.campaign_id is not None:
        moved = await call.service.attentions.transfer_to_campaign(
            attention_id, agent, asked.campaign_id, note=asked.note or None
        )
    else:
        moved = await call.service.attentions.transfer_to_agent(attention_id, agent, asked.agent_id, note=asked.note or None)
    return await attention_answer(call, moved)


async def api_transfer_targets(call: Call, attention_id: int) -> HTTPResponse:
    agent, handoff = call.agent, call.service
    attention = await viewable(handoff, agent, attention_id)
    permissions.require_owner(agent, attention, supervisor_may=True)
    campaigns = [
        {"id": campaign.id, "name": campaign.name}
        for campaign in handoff.campaigns.campaigns.values()
        if campaign.id != attention.campaign_id and campaign.serves(attention.channel, attention.account_id)
    ]
    people = [
        person
        for person in await handoff.agents.all()
        if person.active and person.id != attention.agent_id and person.serves(attention.campaign_id)
    ]
    online = await handoff.presence.online([person.id for person in people])
    agents = [
        {"id": person.id, "display_name": person.display_name, "role": person.role.value, "online": online[person.id][0]}
        for person in people
    ]
    return ok({"campaigns": campaigns, "agents": agents})


async def api_apply_label(call: Call, attention_id: int, label_id: int) -> HTTPResponse:
    await viewable(call.service, call.agent, attention_id)
    return await attention_answer(call, await call.service.labels.apply(attention_id, call.agent, label_id))


async def api_remove_label(call: Call, attention_id: int, label_id: int) -> HTTPResponse:
    await viewable(call.service, call.agent, attention_id)
    return await attention_answer(call, await call.service.labels.remove(attention_id, call.agent, label_id))


# -- the table ------------------------------------------------------------------------------

AGENT, SUPERVISOR = doors.AGENT, doors.SUPERVISOR
ONE = "/api/attentions/<attention_id:int>"
CHANGED = {200: Answer("the attention as it is now", a.AttentionAnswer)}
REFUSED_FORM = Answer("values the campaign's form refuses (fields, field_errors by field id)")

SESSION_ROUTES = [
    Route(
        "POST",
        "/api/login",
        doors.LOGIN,
        api_login,
        "Log in: a session token (12 h)",
        {
            200: Answer("logged in", a.LoggedIn),
            401: Answer("wrong credentials or a deactivated account"),
            429: Answer("too many attempts: retry_after"),
        },
        body=s.LoginBody,
        invalid_code=ErrorCode.AUTH_WRONG_CREDENTIALS,
    ),
    Route(
        "POST",
        "/api/logout",
        AGENT,
        api_logout,
        "End this session; open attentions start their orphan timer, or go "
        'back to their queue first with {"return_to_queue": true}',
        {204: Answer("logged out")},
        body=s.LogoutBody,
    ),
    Route("GET", "/api/me", AGENT, api_me, "The agent of this session", {200: Answer("the agent", a.AgentAnswer)}),
]

ATTENTION_ROUTES = [
    Route(
        "GET",
        "/api/attentions",
        AGENT,
        api_attentions,
        "The attentions list: queued of the agent's campaigns and their own open ones (supervisors: all)",
        {
            200: Answer("the list, queued first, newest first inside each group", a.AttentionList),
        },
        query=s.AttentionsQuery,
    ),
    Route(
        "GET",
        ONE,
        AGENT,
        api_attention,
        "One attention with a page of its messages (oldest first within the page)",
        {200: Answer("the attention", a.AttentionPage)},
        query=s.AttentionPageQuery,
    ),
    Route("POST", ONE + "/open", AGENT, api_open, "Take a queued attention", CHANGED, query=s.Languaged),
    Route(
        "POST",
        ONE + "/messages",
        AGENT,
        api_send,
        "Send a text, or an attachment with an optional caption (text), to the customer",
        {
            201: Answer("the message, sent or failed with Meta's error; messages: it and its caption, in order", a.MessagesSent),
            422: Answer("a text over the channel's limit (limit, unit), an empty message or an attachment URL not http(s)"),
        },
        body=s.SendBody,
    ),
    Route(
        "POST",
        "/api/messages/<message_id:int>/retry",
        AGENT,
        api_retry,
        "Send a failed (or unknown: perhaps received) message again",
        {200: Answer("the message", a.MessageAnswer)},
    ),
    Route(
        "PUT",
        ONE + "/form",
        AGENT,
        api_save_form,
        "Save form values (a draft)",
        {**CHANGED, 422: REFUSED_FORM},
        body=s.FormBody,
        query=s.Languaged,
    ),
    Route(
        "POST",
        ONE + "/terminate",
        AGENT,
        api_terminate,
        "Terminar atención: checks the form, ends the attention",
        {**CHANGED, 422: REFUSED_FORM},
        body=s.TerminateBody,
        query=s.Languaged,
    ),
    Route("POST", ONE + "/read", AGENT, api_read, "Mark messages read up to one", {204: Answer("marked")}, body=s.ReadBody),
    Route(
        "POST",
        ONE + "/transfer",
        AGENT,
        api_transfer,
        "Transfer an open attention to another campaign (queued there) or agent (open for them); owner or supervisor",
        CHANGED,
        body=s.TransferBody,
        query=s.Languaged,
    ),
    Route(
        "GET",
        ONE + "/transfer-targets",
        AGENT,
        api_transfer_targets,
        "Where the attention can be transferred: other campaigns of its channel account, agents of its campaign",
        {200: Answer("targets", a.TransferTargets)},
    ),
    Route("POST", ONE + "/labels/<label_id:int>", AGENT, api_apply_label, "Apply a label", CHANGED, query=s.Languaged),
    Route("DELETE", ONE + "/labels/<label_id:int>", AGENT, api_remove_label, "Remove a label", CHANGED, query=s.Languaged),
]
