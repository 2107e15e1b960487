"""The desk's REST API as OpenAPI 3 (``GET /webhooks/desk/api/openapi.json``).

Written by hand from docs/desk-api.md; tests/desk/test_openapi.py checks that every
``/api`` route the server registers is described here, with its methods.
"""

from __future__ import annotations

import copy
from typing import Any

BASE = "/webhooks/desk"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "ServiceAttention": {
        "type": "object",
        "properties": {
            "id": INTEGER, "state": STRING, "channel": STRING, "account_id": STRING, "customer_id": STRING,
            "campaign_id": STRING, "agent_id": {"type": "integer", "nullable": True},
            "form": {"type": "object", "additionalProperties": True}, "created_at": TIME,
        },
    },  # fmt: skip
    "Error": {
        "type": "object",
        "required": ["error", "code", "params"],
        "properties": {
            "error": {"type": "string", "description": "English, for developers and logs; pages show the code's text"},
            "code": {"type": "string", "description": "what happened, stable and dotted (handoff/error_codes.py)"},
            "params": {"type": "object", "additionalProperties": True, "description": "the values the code's text needs"},
            "fields": {"type": "object", "additionalProperties": STRING, "description": "422 form errors, by field id"},
            "field_errors": {"type": "object", "description": "422: per field id, {code, params} (field.required, ...)",
                             "additionalProperties": {"type": "object",
                                                      "properties": {"code": STRING, "params": {"type": "object"}}}},
            "window_closed": {"type": "boolean", "description": "409: Meta's messaging window is closed"},
            "reason": {"type": "string", "description": "409 window_closed on an outbound start: why"},
            "window": {"type": "object", "description": "409 window_closed on an outbound start: the customer's windows",
                       "properties": {"last_customer_message_at": {"type": "string", "format": "date-time", "nullable": True},
                                      "response_until": {"type": "string", "format": "date-time", "nullable": True},
                                      "human_agent_until": {"type": "string", "format": "date-time", "nullable": True},
                                      "human_agent_allowed": {"type": "boolean"}}},
            "active_attention_id": {"type": "integer", "description": "409: the customer's active attention"},
            "active_state": {"type": "string", "description": "409: its state (queued or open)"},
            "active_agent_id": {"type": "integer", "nullable": True, "description": "409: who holds it"},
            "retry_after": {"type": "integer", "description": "429: seconds to wait"},
        },
    },
    "Agent": {
        "type": "object",
        "properties": {
            "id": INTEGER,
            "username": STRING,
            "display_name": STRING,
            "role": {"type": "string", "enum": ["agent", "supervisor"]},
            "campaigns": {"type": "array", "items": STRING},
            "active": {"type": "boolean"},
        },
    },
    "Label": {"type": "object", "properties": {"id": INTEGER, "name": STRING, "colour": STRING, "retired": {"type": "boolean"}}},
    "Customer": {
        "type": "object",
        "properties": {"id": STRING, "name": STRING,
                       "picture_url": _nullable({**STRING, "description": "null once Meta's link has expired"})},
    },
    "Campaign": {
        "type": "object",
        "properties": {
            "id": STRING,
            "name": STRING,
            "channels": {"type": "array", "items": {"type": "string", "enum": ["messenger", "instagram"]}},
            "human_agent_tag": {"type": "boolean"},
        },
    },
    "Summary": {
        "type": "object",
        "properties": {
            "id": INTEGER,
            "state": {"type": "string", "enum": ["queued", "open", "terminated"]},
            "channel": {"type": "string", "enum": ["messenger", "instagram"]},
            "direction": {"type": "string", "enum": ["inbound", "outbound"]},
            "campaign_id": STRING,
            "campaign_name": STRING,
            "agent_id": _nullable(INTEGER),
            "customer": _ref("Customer"),
            "created_at": TIME,
            "updated_at": TIME,
            "last_message": _nullable(
                {
                    "type": "object",
                    "properties": {
                        "text": _nullable(STRING), "kind": STRING, "author": STRING, "agent": _nullable(_ref("AuthorAgent")),
                        "attachment_types": {"type": "array", "items": STRING},
                        "payload": _nullable({"type": "object", "additionalProperties": True,
                                              "description": "a transfer line's Transfer"}),
                        "at": TIME,
                    },
                }
            ),
            "unread": INTEGER,
            "labels": {"type": "array", "items": _ref("Label")},
            "reason": _nullable({**STRING, "description": "why the customer asked for a person, in their words"}),
            "transfer": _nullable(_ref("Transfer")),
        },
    },
    "AuthorAgent": {"type": "object", "properties": {"id": INTEGER, "name": _nullable(STRING)}},
    "Transfer": {
        "type": "object",
        "description": "the attention's latest transfer, names as they were then",
        "properties": {
            "at": TIME, "by_agent_id": _nullable(INTEGER), "by_agent_name": _nullable(STRING),
            "from_campaign_id": STRING, "from_campaign_name": STRING, "to_campaign_id": STRING, "to_campaign_name": STRING,
            "to_agent_id": _nullable(INTEGER), "to_agent_name": _nullable(STRING), "note": _nullable(STRING),
        },
    },
    "Field": {
        "type": "object",
        "properties": {
            "id": STRING,
            "label": STRING,
            "type": {
                "type": "string",
                "enum": ["text", "paragraph", "number", "single_choice", "multiple_choice", "list", "date"],
            },
            "required": {"type": "boolean"},
            "min_length": _nullable(INTEGER),
            "max_length": _nullable(INTEGER),
            "min": _nullable({"type": "number"}),
            "max": _nullable({"type": "number"}),
            # The id is the stored value; the label (data/campaigns.yml) is in the asked language.
            "options": {"type": "array", "items": {"type": "object", "required": ["id", "label"],
                                                   "properties": {"id": STRING, "label": STRING}}},  # fmt: skip
            "default": {"nullable": True},
        },
    },
    "Detail": {
        "allOf": [
            _ref("Summary"),
            {
                "type": "object",
                "properties": {
                    "form": {"type": "object", "additionalProperties": True},
                    "context": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                    "bot_values": {"type": "object", "additionalProperties": True,
                                   "description": "the slots the bot collected (kept across transfers)"},
                    "text_limit": {"type": "object", "description": "Meta's limit on one text message of this channel",
                                   "properties": {"max": INTEGER, "unit": {"type": "string", "enum": ["chars", "bytes"]}}},
                    "window": {
                        "type": "object",
                        "properties": {
                            "last_customer_message_at": _nullable(TIME),
                            "response_until": _nullable(TIME),
                            "human_agent_until": _nullable(TIME),
                            "human_agent_allowed": {"type": "boolean"},
                        },
                    },
                    "campaign": {
                        "type": "object",
                        "properties": {"id": STRING, "name": STRING, "form": {"type": "array", "items": _ref("Field")}},
                    },
                },
            },
        ]
    },
    "Message": {
        "type": "object",
        "properties": {
            "id": INTEGER,
            "attention_id": INTEGER,
            "direction": {"type": "string", "enum": ["in", "out", "internal"]},
            "author": {"type": "string", "enum": ["customer", "bot", "agent", "external", "system"]},
            "kind": {
                "type": "string",
                "enum": ["text", "attachment", "reaction", "postback", "referral", "deleted", "edit", "unsupported", "transfer"],
            },
            "text": _nullable(STRING),
            "payload": {"type": "object", "additionalProperties": True},
            "status": {"type": "string", "enum": ["received", "pending", "sent", "delivered", "read", "failed", "unknown"]},
            "error_code": _nullable(INTEGER),
            "error_message": _nullable(STRING),
            "agent_id": _nullable(INTEGER),
            "agent": _nullable(_ref("AuthorAgent")),
            "created_at": TIME,
            "sent_at": _nullable(TIME),
            "delivered_at": _nullable(TIME),
            "read_at": _nullable(TIME),
        },
    },
}


SCHEMAS["HistoryItem"] = {
    "type": "object",
    "properties": {
        "id": {**INTEGER, "description": "the attention id"},
        "channel": {"type": "string", "enum": ["messenger", "instagram"]},
        "direction": {"type": "string", "enum": ["inbound", "outbound"], "description": "Entrante / Saliente"},
        "campaign_id": STRING,
        "campaign_name": STRING,
        "customer": {"allOf": [_ref("Customer"), {"type": "object", "properties": {"initials": STRING}}]},
        "agent": _nullable({"type": "object", "properties": {"id": INTEGER, "display_name": STRING}}),
        "created_at": TIME,
        "ended_at": TIME,
        "labels": {"type": "array", "items": _ref("Label")},
    },
}
SCHEMAS["TrailEntry"] = {
    "type": "object",
    "properties": {
        "id": INTEGER,
        "action": {"type": "string", "description": "queued, open, transfer_to_campaign, transfer_to_agent, release, "
                   "return_orphan, terminate, form_saved, label_applied, label_removed, started_outbound"},
        "at": TIME,
        "from_state": _nullable(STRING),
        "to_state": _nullable(STRING),
        "actor": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["agent", "bot", "system"]},
                                                   "agent_id": _nullable(INTEGER), "name": _nullable(STRING)}},
        "detail": {"type": "object", "additionalProperties": True},
        "from_agent_name": STRING, "to_agent_name": STRING, "from_campaign_name": STRING, "to_campaign_name": STRING,
        "campaign_name": STRING,
    },
}  # fmt: skip
SCHEMAS["HistoryDetail"] = {
    "allOf": [
        _ref("HistoryItem"),
        {
            "type": "object",
            "properties": {
                "context": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                "form": {"type": "object", "additionalProperties": True},
                "form_fields": {"type": "array", "items": {"type": "object", "properties": {
                    "id": STRING, "label": STRING, "type": _nullable(STRING), "value": {"nullable": True},
                    "value_label": {"nullable": True}}}},
                "trail": {"type": "array", "items": _ref("TrailEntry")},
            },
        },
    ]
}  # fmt: skip
SCHEMAS["Overview"] = {
    "type": "object",
    "properties": {
        "at": TIME,
        "campaigns": {"type": "array", "items": {"type": "object", "properties": {
            "id": STRING, "name": STRING, "queued": INTEGER, "oldest_queued_since": _nullable(TIME),
            "oldest_waiting_seconds": _nullable(INTEGER), "open": INTEGER, "agents_online": INTEGER,
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "id": INTEGER, "display_name": STRING, "online": {"type": "boolean"}, "open": INTEGER}}}}}},
        "agents": {"type": "array", "items": {"allOf": [_ref("Agent"), {"type": "object", "properties": {
            "online": {"type": "boolean"}, "last_seen_at": _nullable(TIME), "open": INTEGER,
            "open_by_campaign": {"type": "object", "additionalProperties": INTEGER}}}]}},
    },
}  # fmt: skip


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = _json(schema)
    return answer


ERROR = _answer("error", _ref("Error"))
COMMON = {"401": ERROR, "403": ERROR}
ATTENTION_ID = {"name": "attention_id", "in": "path", "required": True, "schema": INTEGER}
LANG = {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["es", "en"], "default": "es"}}
ATTENTION = _object(attention=_ref("Detail"))
VALUES = _object(values={"type": "object", "additionalProperties": True})


def _operation(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None, parameters: list | None = None,
               public: bool = False, content_type: str = "application/json") -> dict[str, Any]:  # fmt: skip
    operation: dict[str, Any] = {"summary": summary, "responses": {**({} if public else COMMON), **responses}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    if public:
        operation["security"] = []
    return operation


API_PATHS: dict[str, Any] = {
    "/api/login": {
        "post": _operation(
            "Log in: a session token (12 h)",
            {"200": _answer("logged in", _object(token=STRING, expires_at=TIME, agent=_ref("Agent"))), "400": ERROR,
             "401": ERROR, "429": ERROR},
            body=_object(username=STRING, password=STRING), public=True,
        ),  # fmt: skip
    },
    "/api/logout": {"post": _operation("End this session; open attentions start their orphan timer, or go back to "
                                       "their queue first when the optional body is {\"return_to_queue\": true}",
                                       {"204": _answer("logged out")})},
    "/api/me": {"get": _operation("The agent of this session", {"200": _answer("the agent", _object(agent=_ref("Agent")))})},
    "/api/attentions": {
        "get": _operation(
            "The attentions list: queued of the agent's campaigns and their own open ones (supervisors: all)",
            {"200": _answer("the list, queued first, newest first inside each group",
                            _object(attentions={"type": "array", "items": _ref("Summary")},
                                    counts=_object(open=INTEGER, queued=INTEGER)))},
            parameters=[
                {"name": "channel", "in": "query", "schema": {"type": "string", "enum": ["messenger", "instagram"]}},
                {"name": "q", "in": "query", "schema": STRING,
                 "description": "3+ characters: open attentions only, by name, id, label or message text"},
            ],
        ),  # fmt: skip
    },
    "/api/attentions/{attention_id}": {
        "get": _operation(
            "One attention with a page of its messages (oldest first within the page)",
            {"200": _answer("the attention", _object(attention=_ref("Detail"), messages={"type": "array", "items": _ref("Message")},
                                                     has_more={"type": "boolean"})), "404": ERROR},
            parameters=[ATTENTION_ID, LANG,
                        {"name": "before", "in": "query", "schema": INTEGER, "description": "messages older than this message id"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50, "maximum": 200}}],
        ),  # fmt: skip
    },
    "/api/attentions/{attention_id}/open": {
        "post": _operation("Take a queued attention", {"200": _answer("opened", ATTENTION), "404": ERROR, "409": ERROR},
                           parameters=[ATTENTION_ID, LANG]),
    },
    "/api/attentions/{attention_id}/messages": {
        "post": _operation(
            "Send a text, or an attachment with an optional caption (text), to the customer",
            {"201": _answer("the message, sent or failed with Meta's error; messages: it and its caption, in order",
                            _object(message=_ref("Message"), messages={"type": "array", "items": _ref("Message")})),
             "409": ERROR, "422": ERROR},
            body={"oneOf": [_object(text=STRING),
                            _object(attachment=_object(type={"type": "string", "enum": ["image", "video", "audio", "file"]},
                                                       url=STRING, filename=STRING), text=STRING)]},
            parameters=[ATTENTION_ID],
        ),  # fmt: skip
    },
    "/api/messages/{message_id}/retry": {
        "post": _operation(
            "Send a failed (or unknown: perhaps received) message again", {"200": _answer("the message", _object(message=_ref("Message"))), "409": ERROR, "422": ERROR},
            parameters=[{"name": "message_id", "in": "path", "required": True, "schema": INTEGER}],
        ),
    },
    "/api/attentions/{attention_id}/form": {
        "put": _operation("Save form values (a draft)", {"200": _answer("saved", ATTENTION), "409": ERROR, "422": ERROR},
                          body=VALUES, parameters=[ATTENTION_ID, LANG]),
    },
    "/api/attentions/{attention_id}/terminate": {
        "post": _operation("Terminar atención: checks the form, ends the attention",
                           {"200": _answer("terminated", ATTENTION), "409": ERROR, "422": ERROR},
                           body=VALUES, parameters=[ATTENTION_ID, LANG]),
    },
    "/api/attentions/{attention_id}/read": {
        "post": _operation("Mark messages read up to one", {"204": _answer("marked")},
                           body=_object(up_to_message_id=INTEGER), parameters=[ATTENTION_ID]),
    },
    "/api/attentions/{attention_id}/labels/{label_id}": {
        method: _operation(f"{verb} a label", {"200": _answer("the attention", ATTENTION), "404": ERROR, "422": ERROR},
                           parameters=[ATTENTION_ID, {"name": "label_id", "in": "path", "required": True, "schema": INTEGER}, LANG])
        for method, verb in (("post", "Apply"), ("delete", "Remove"))
    },
    "/api/attentions/{attention_id}/transfer": {
        "post": _operation(
            "Transfer an open attention to another campaign (queued there) or agent (open for them); owner or supervisor",
            {"200": _answer("transferred", ATTENTION), "400": ERROR, "404": ERROR, "409": ERROR, "422": ERROR},
            body={"oneOf": [_object(campaign_id=STRING, note=STRING), _object(agent_id=INTEGER, note=STRING)]},
            parameters=[ATTENTION_ID, LANG],
        ),
    },
    "/api/attentions/{attention_id}/transfer-targets": {
        "get": _operation(
            "Where the attention can be transferred: other campaigns of its channel account, agents of its campaign",
            {"200": _answer("targets", _object(
                campaigns={"type": "array", "items": _object(id=STRING, name=STRING)},
                agents={"type": "array", "items": _object(id=INTEGER, display_name=STRING, role=STRING, online={"type": "boolean"})}))},
            parameters=[ATTENTION_ID],
        ),
    },
    "/api/history": {
        "get": _operation(
            "Terminated attentions the caller may see (agents: their campaigns'; supervisors: all), newest first",
            {"200": _answer("a page", _object(items={"type": "array", "items": _ref("HistoryItem")}, next_cursor=_nullable(INTEGER))),
             "400": ERROR},
            parameters=[
                {"name": "q", "in": "query", "schema": STRING, "description": "keyword: word prefixes over customer name, campaign "
                 "name, message text, form values, end date (YYYY-MM-DD), label names; accents and case ignored"},
                {"name": "from", "in": "query", "schema": STRING, "description": "ended at or after (YYYY-MM-DD or ISO time)"},
                {"name": "to", "in": "query", "schema": STRING, "description": "ended before (a day: up to its end)"},
                {"name": "campaign_id", "in": "query", "schema": STRING},
                {"name": "label_id", "in": "query", "schema": INTEGER},
                {"name": "agent_id", "in": "query", "schema": INTEGER},
                {"name": "channel", "in": "query", "schema": {"type": "string", "enum": ["messenger", "instagram"]}},
                {"name": "direction", "in": "query", "schema": {"type": "string", "enum": ["inbound", "outbound"]}},
                {"name": "cursor", "in": "query", "schema": INTEGER, "description": "the previous page's next_cursor"},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20, "maximum": 100}},
            ],
        ),
    },
    "/api/history/{attention_id}": {
        "get": _operation(
            "One history item: transcript, form and audit trail",
            {"200": _answer("the item", _object(item=_ref("HistoryDetail"), messages={"type": "array", "items": _ref("Message")},
                                                has_more={"type": "boolean"})), "404": ERROR},
            parameters=[ATTENTION_ID, LANG,
                        {"name": "before", "in": "query", "schema": INTEGER, "description": "messages older than this message id"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 200, "maximum": 500}}],
        ),
    },
    "/api/history/{attention_id}/outbound": {
        "post": _operation(
            "Start a new (outbound) attention with this customer, open for the caller (Messenger only)",
            {"201": _answer("started", ATTENTION), "404": ERROR,
             "409": _answer("the customer has an active attention (active_attention_id) or Meta's window is closed "
                            "(window_closed, reason, window)", _ref("Error")),
             "422": _answer("not on Instagram, or a campaign that cannot take it", _ref("Error"))},
            body=_object(campaign_id=STRING), parameters=[ATTENTION_ID, LANG],
        ),
    },
    "/api/supervisor/overview": {
        "get": _operation("Queues, open attentions per agent and who is online (supervisors)",
                          {"200": _answer("the overview", _ref("Overview"))}),
    },
    "/api/labels/{label_id}": {
        "patch": _operation(
            "Rename, recolour, retire or bring back a label (supervisors)",
            {"200": _answer("changed", _object(label=_ref("Label"))), "400": ERROR, "404": ERROR, "422": ERROR},
            body=_object(name=STRING, colour={"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}, retired={"type": "boolean"}),
            parameters=[{"name": "label_id", "in": "path", "required": True, "schema": INTEGER}],
        ),
    },
    "/api/labels": {
        "get": _operation("Labels that can be applied (supervisors with all=true: retired ones too)",
                          {"200": _answer("labels", _object(labels={"type": "array", "items": _ref("Label")}))},
                          parameters=[{"name": "all", "in": "query", "schema": {"type": "boolean"}}]),
        "post": _operation("Create a label (supervisors)", {"201": _answer("created", _object(label=_ref("Label"))), "422": ERROR},
                           body=_object(name=STRING, colour={"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"})),
    },
    "/api/uploads": {
        "post": _operation(
            "Upload a file to attach (25 MB at most); it is served at an unguessable public URL",
            {"201": _answer("stored", _object(url=STRING, type={"type": "string", "enum": ["image", "video", "audio", "file"]},
                                              name=STRING, size=INTEGER)), "400": ERROR, "413": ERROR},
            body=_object(file={"type": "string", "format": "binary"}), content_type="multipart/form-data",
        ),  # fmt: skip
    },
    "/api/campaigns": {
        "get": _operation("Campaigns", {"200": _answer("campaigns", _object(campaigns={"type": "array", "items": _ref("Campaign")}))}),
    },
    "/api/agents": {
        "get": _operation("Every account (supervisors)", {"200": _answer("accounts", _object(agents={"type": "array", "items": _ref("Agent")}))}),
        "post": _operation(
            "Create an account (supervisors)", {"201": _answer("created", _object(agent=_ref("Agent"))), "422": ERROR},
            body=_object(username=STRING, password=STRING, display_name=STRING,
                         role={"type": "string", "enum": ["agent", "supervisor"]}, campaigns={"type": "array", "items": STRING}),
        ),  # fmt: skip
    },
    "/api/agents/{agent_id}": {
        "patch": _operation(
            "Change an account (supervisors); deactivation and a new password end its sessions at once",
            {"200": _answer("changed", _object(agent=_ref("Agent"))), "404": ERROR, "422": ERROR},
            body=_object(active={"type": "boolean"}, campaigns={"type": "array", "items": STRING}, display_name=STRING,
                         password=STRING),
            parameters=[{"name": "agent_id", "in": "path", "required": True, "schema": INTEGER}],
        ),  # fmt: skip
    },
    "/api/openapi.json": {"get": _operation("This document", {"200": _answer("OpenAPI 3")}, public=True)},
}


SERVICE: list[dict[str, list[str]]] = [{"service": []}]
CUSTOMER = [
    {"name": "channel", "in": "query", "required": True, "schema": {"type": "string", "enum": ["messenger", "instagram"]}},
    {"name": "account_id", "in": "query", "schema": STRING},
    {"name": "customer_id", "in": "query", "required": True, "schema": STRING},
]
SERVICE_ATTENTION = _object(attention=_ref("ServiceAttention"))


def _service_operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    operation = _operation(summary, {"401": ERROR, "503": ERROR, **responses}, public=True, **extra)
    operation["security"] = SERVICE
    return operation


# The action server's calls (actions/handoff_api.py), with HANDOFF_SERVICE_TOKEN.
SERVICE_PATHS: dict[str, Any] = {
    "/service/attentions": {
        "post": _service_operation(
            "The customer's active attention, or a new queued one (the hand-over)",
            {"200": _answer("already active", _object(attention=_ref("ServiceAttention"), handoff_message=STRING)),
             "201": _answer("queued", _object(attention=_ref("ServiceAttention"), handoff_message=STRING)),
             "400": ERROR, "422": ERROR},
            body=_object(channel=STRING, account_id=STRING, customer_id=STRING, intent=_nullable(STRING),
                         slots={"type": "object", "additionalProperties": True},
                         context={"type": "array", "items": STRING}, customer_name=_nullable(STRING),
                         language={"type": "string", "enum": ["es", "en"]}),
        ),  # fmt: skip
    },
    "/service/attentions/active": {
        "get": _service_operation("The customer's active attention", {"200": _answer("active", SERVICE_ATTENTION),
                                                                      "400": ERROR, "404": ERROR}, parameters=CUSTOMER),
    },
    "/service/attentions/{attention_id}/form": {
        "post": _service_operation(
            "Record form fields the bot collected (by field id, or by slot name)",
            {"200": _answer("recorded", SERVICE_ATTENTION), "400": ERROR, "404": ERROR, "409": ERROR, "422": ERROR},
            parameters=[ATTENTION_ID],
            body=_object(values={"type": "object", "additionalProperties": True},
                         slots={"type": "object", "additionalProperties": True}),
        ),  # fmt: skip
    },
    "/service/attentions/{attention_id}/terminate": {
        "post": _service_operation(
            "End the customer's active attention (the customer left the queue)",
            {"200": _answer("ended", SERVICE_ATTENTION), "400": ERROR, "404": ERROR, "409": ERROR},
            parameters=[ATTENTION_ID], body=_object(reason=_nullable(STRING)),
        ),  # fmt: skip
    },
}

PATHS: dict[str, Any] = {**API_PATHS, **SERVICE_PATHS}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Agent desk API",
        "version": "1.0",
        "description": "The agent desk of the handoff project (docs/desk-api.md): the agents' API under /api "
        "(a session token) and the action server's under /service (HANDOFF_SERVICE_TOKEN). Live updates: "
        "the WebSocket GET /webhooks/desk/ws (docs/desk-api.md).",
    },
    "servers": [{"url": BASE}],
    "components": {
        "securitySchemes": {
            "session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "service": {"type": "http", "scheme": "bearer", "description": "HANDOFF_SERVICE_TOKEN"},
        },
        "schemas": SCHEMAS,
    },
    "security": [{"session": []}],
    "paths": PATHS,
}


def openapi_document() -> dict[str, Any]:
    return copy.deepcopy(DOCUMENT)
