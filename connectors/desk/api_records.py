"""The desk's REST API, second half: history, labels, uploads, campaigns, accounts, the
supervisor's overview (the table :data:`RECORD_ROUTES`, part of ``connectors.desk.api``)."""

from __future__ import annotations

from urllib.parse import unquote

from sanic.response import HTTPResponse

from connectors.desk import answer_bodies as a
from connectors.desk import doors
from connectors.desk import schemas as s
from connectors.desk.accounts import change_password, check_password_policy, create_account
from connectors.desk.api_attentions import attention_answer
from connectors.desk.http import BadRequest, error, ok
from connectors.desk.routes import MULTIPART, Answer, Call, Route
from connectors.desk.serializers import (
    agent_json,
    campaign_json,
    history_detail_json,
    history_item_json,
    label_json,
    message_json,
    overview_json,
)
from connectors.desk.uploads import MAX_UPLOAD_BYTES, TooLarge
from handoff.error_codes import ErrorCode
from handoff.errors import Forbidden, InvalidRequest
from handoff.records import HistoryFilter

DEFAULT_COLOUR = "#888888"

# -- history --------------------------------------------------------------------------------


async def api_history(call: Call) -> HTTPResponse:
    agent, asked = call.agent, call.query
    if asked.campaign_id is not None and not agent.is_supervisor and asked.campaign_id not in agent.campaigns:
        raise Forbidden(
            f"agent {agent.id}",
            f"campaign '{asked.campaign_id}' is not one of yours",
            code=ErrorCode.CAMPAIGN_NOT_YOURS,
            campaign_id=asked.campaign_id,
        )
    where = HistoryFilter(
        keyword=asked.keyword,
        ended_from=asked.ended_from,
        ended_before=asked.to,
        campaign_id=asked.campaign_id,
        label_id=asked.label_id,
        agent_id=asked.agent_id,
        channel=asked.channel.value if asked.channel else None,
        direction=asked.direction.value if asked.direction else None,
    )
    page = await call.service.history.search(agent, where, before=asked.cursor, limit=asked.limit)
    return ok({"items": [history_item_json(item) for item in page.items], "next_cursor": page.next_cursor})


async def api_history_item(call: Call, attention_id: int) -> HTTPResponse:
    detail = await call.service.history.detail(
        call.agent, attention_id, before_message_id=call.query.before, limit=call.query.limit
    )
    return ok(
        {
            "item": history_detail_json(detail, call.language),
            "messages": [message_json(message) for message in reversed(detail.messages)],
            "has_more": detail.has_more,
        }
    )


async def api_start_outbound(call: Call, attention_id: int) -> HTTPResponse:
    started = await call.service.outbound.start(call.agent, attention_id, call.body.campaign_id or None)
    return await attention_answer(call, started, status=201)


# -- labels ---------------------------------------------------------------------------------


async def api_labels(call: Call) -> HTTPResponse:
    everything = call.query.everything and call.agent.is_supervisor
    return ok({"labels": [label_json(label) for label in await call.service.labels.all(include_retired=everything)]})


async def api_update_label(call: Call, label_id: int) -> HTTPResponse:
    asked = call.body
    changed = await call.service.labels.update(call.agent, label_id, name=asked.name, colour=asked.colour, retired=asked.retired)
    return ok({"label": label_json(changed)})


async def api_create_label(call: Call) -> HTTPResponse:
    colour = call.body.colour or DEFAULT_COLOUR
    if not s.COLOUR.match(colour):
        raise InvalidRequest("colour is #rrggbb", code=ErrorCode.LABEL_COLOUR)
    created = await call.service.labels.create(call.agent, call.body.name, colour)
    return ok({"label": label_json(created)}, status=201)


# -- uploads --------------------------------------------------------------------------------


async def api_upload(call: Call) -> HTTPResponse:
    request = call.request
    upload = request.files.get("file") if request.files else None
    if upload is None:
        raise BadRequest("send the file as multipart/form-data in the field 'file'", code=ErrorCode.UPLOAD_MISSING)
    try:
        # Some clients percent-encode non-ASCII names in the multipart header.
        saved = call.parts.uploads.save(unquote(upload.name or ""), upload.type, upload.body)
    except TooLarge as problem:
        return error(413, str(problem), code=ErrorCode.UPLOAD_TOO_LARGE, params={"limit_mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
    return ok({"url": saved.url, "type": saved.type, "name": saved.name, "size": saved.size}, status=201)


# -- campaigns and accounts -----------------------------------------------------------------


async def api_campaigns(call: Call) -> HTTPResponse:
    return ok({"campaigns": [campaign_json(campaign) for campaign in call.service.campaigns.campaigns.values()]})


async def api_agents(call: Call) -> HTTPResponse:
    return ok({"agents": [agent_json(agent) for agent in await call.service.agents.all()]})


async def api_create_agent(call: Call) -> HTTPResponse:
    asked = call.body
    created = await create_account(
        call.service,
        asked.username,
        asked.password,
        display_name=asked.display_name,
        role=asked.role or "agent",
        campaigns=asked.campaigns or [],
    )
    return ok({"agent": agent_json(created)}, status=201)


async def api_update_agent(call: Call, agent_id: int) -> HTTPResponse:
    asked, handoff = call.body, call.service
    given = asked.__fields_set__  # only what was sent changes
    current = await handoff.agents.get(agent_id)
    if "active" in given and asked.active is False and current.id == call.agent.id:
        raise InvalidRequest("a supervisor cannot deactivate their own account", code=ErrorCode.AGENT_SELF_DEACTIVATE)
    # Everything is checked before anything changes.
    if "display_name" in given and not asked.display_name.strip():
        raise InvalidRequest("an agent needs a display name", code=ErrorCode.AGENT_DISPLAY_NAME)
    unknown_campaigns = sorted(set(asked.campaigns or ()) - set(handoff.campaigns.campaigns))
    if unknown_campaigns:
        raise InvalidRequest(
            f"unknown campaigns {unknown_campaigns}", code=ErrorCode.CAMPAIGN_UNKNOWN, campaigns=list(unknown_campaigns)
        )
    if "password" in given:
        check_password_policy(asked.password)
    if "display_name" in given:
        current = await handoff.agents.set_display_name(agent_id, asked.display_name)
    if "campaigns" in given:
        current = await handoff.agents.set_campaigns(agent_id, asked.campaigns)
    if "password" in given:
        current = await change_password(handoff, agent_id, asked.password)
    if "active" in given and asked.active != current.active:
        current = await handoff.agents.set_active(agent_id, asked.active)
        if not current.active:
            await handoff.presence.left(agent_id)
    await call.parts.live.agent_changed(current, password_changed="password" in given)
    return ok({"agent": agent_json(current)})


async def api_overview(call: Call) -> HTTPResponse:
    return ok(overview_json(await call.service.presence.overview(call.agent)))


# -- the table ------------------------------------------------------------------------------

AGENT, SUPERVISOR = doors.AGENT, doors.SUPERVISOR
LABEL = {200: Answer("the label", a.LabelAnswer)}

RECORD_ROUTES = [
    Route(
        "GET",
        "/api/history",
        AGENT,
        api_history,
        "Terminated attentions the caller may see (agents: their campaigns'; supervisors: all), newest first",
        {200: Answer("a page", a.HistoryPage)},
        query=s.HistoryQuery,
    ),
    Route(
        "GET",
        "/api/history/<attention_id:int>",
        AGENT,
        api_history_item,
        "One history item: transcript, form and audit trail",
        {200: Answer("the item", a.HistoryItemAnswer)},
        query=s.HistoryItemQuery,
    ),
    Route(
        "POST",
        "/api/history/<attention_id:int>/outbound",
        AGENT,
        api_start_outbound,
        "Start a new (outbound) attention with this customer, open for the caller (Messenger only)",
        {
            201: Answer("started", a.AttentionAnswer),
            409: Answer(
                "the customer has an active attention (active_attention_id) or Meta's window is closed "
                "(window_closed, reason, window)",
            ),
            422: Answer("not on Instagram, or a campaign that cannot take it"),
        },
        body=s.OutboundBody,
        query=s.Languaged,
    ),
    Route(
        "GET",
        "/api/labels",
        AGENT,
        api_labels,
        "Labels that can be applied (supervisors with all=true: retired ones too)",
        {200: Answer("labels", a.LabelsAnswer)},
        query=s.LabelsQuery,
    ),
    Route(
        "POST",
        "/api/labels",
        SUPERVISOR,
        api_create_label,
        "Create a label (supervisors)",
        {201: Answer("created", a.LabelAnswer)},
        body=s.LabelBody,
    ),
    Route(
        "PATCH",
        "/api/labels/<label_id:int>",
        SUPERVISOR,
        api_update_label,
        "Rename, recolour, retire or bring back a label (supervisors)",
        LABEL,
        body=s.LabelChangeBody,
    ),
    Route(
        "POST",
        "/api/uploads",
        doors.upload_door(MAX_UPLOAD_BYTES),
        api_upload,
        "Upload a file to attach (25 MB at most); it is served at an unguessable public URL",
        {201: Answer("stored", a.Uploaded)},
        body=s.UploadForm,
        content_type=MULTIPART,
    ),
    Route(
        "GET",
        "/api/campaigns",
        AGENT,
        api_campaigns,
        "Campaigns",
        {200: Answer("campaigns", a.CampaignsAnswer)},
    ),
    Route(
        "GET",
        "/api/agents",
        SUPERVISOR,
        api_agents,
        "Every account (supervisors)",
        {200: Answer("accounts", a.AgentsAnswer)},
    ),
    Route(
        "POST",
        "/api/agents",
        SUPERVISOR,
        api_create_agent,
        "Create an account (supervisors)",
        {201: Answer("created", a.AgentAnswer)},
        body=s.AgentBody,
    ),
    Route(
        "PATCH",
        "/api/agents/<agent_id:int>",
        SUPERVISOR,
        api_update_agent,
        "Change an account (supervisors); deactivation and a new password end its sessions at once",
        {200: Answer("changed", a.AgentAnswer)},
        body=s.AgentChangeBody,
    ),
    Route(
        "GET",
        "/api/supervisor/overview",
        SUPERVISOR,
        api_overview,
        "Queues, open attentions per agent and who is online (supervisors)",
        {200: Answer("the overview", a.Overview)},
    ),
]
