"""The answers' schemas of the desk's APIs, written by hand (components of openapi.json).

Requests are pydantic models (connectors/desk/schemas.py) and their schemas are generated;
the answers are built by connectors/desk/serializers.py as plain dicts, so they are
described here, and each route of the tables names its answers with these helpers.
"""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
SCHEMAS: dict[str, Any] = {
    "ServiceAttention": {
        "type": "object",
        "properties": {
            "id": INTEGER,
            "state": STRING,
            "channel": STRING,
            "account_id": STRING,
            "customer_id": STRING,
            "campaign_id": STRING,
            "agent_id": {"type": "integer", "nullable": True},
            "form": {"type": "object", "additionalProperties": True},
            "created_at": TIME,
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "code", "params"],
        "properties": {
            "error": {"type": "string", "description": "English, for developers and logs; pages show the code's text"},
            "code": {"type": "string", "description": "what happened, stable and dotted (handoff/error_codes.py)"},
            "params": {"type": "object", "additionalProperties": True, "description": "the values the code's text needs"},
            "fields": {"type": "object", "additionalProperties": STRING, "description": "422 form errors, by field id"},
            "field_errors": {
                "type": "object",
                "description": "422: per field id, {code, params} (field.required, ...)",
                "additionalProperties": {"type": "object", "properties": {"code": STRING, "params": {"type": "object"}}},
            },
            "window_closed": {"type": "boolean", "description": "409: Meta's messaging window is closed"},
            "reason": {"type": "string", "description": "409 window_closed on an outbound start: why"},
            "window": {
                "type": "object",
                "description": "409 window_closed on an outbound start: the customer's windows",
                "properties": {
                    "last_customer_message_at": {"type": "string", "format": "date-time", "nullable": True},
                    "response_until": {"type": "string", "format": "date-time", "nullable": True},
                    "human_agent_until": {"type": "string", "format": "date-time", "nullable": True},
                    "human_agent_allowed": {"type": "boolean"},
                },
            },
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
        "properties": {
            "id": STRING,
            "name": STRING,
            "picture_url": nullable({**STRING, "description": "null once Meta's link has expired"}),
        },
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
            "agent_id": nullable(INTEGER),
            "customer": ref("Customer"),
            "created_at": TIME,
            "updated_at": TIME,
            "last_message": nullable(
                {
                    "type": "object",
                    "properties": {
                        "text": nullable(STRING),
                        "kind": STRING,
                        "author": STRING,
                        "agent": nullable(ref("AuthorAgent")),
                        "attachment_types": {"type": "array", "items": STRING},
                        "payload": nullable(
                            {"type": "object", "additionalProperties": True, "description": "a transfer line's Transfer"}
                        ),
                        "at": TIME,
                    },
                }
            ),
            "unread": INTEGER,
            "labels": {"type": "array", "items": ref("Label")},
            "reason": nullable({**STRING, "description": "why the customer asked for a person, in their words"}),
            "transfer": nullable(ref("Transfer")),
        },
    },
    "AuthorAgent": {"type": "object", "properties": {"id": INTEGER, "name": nullable(STRING)}},
    "Transfer": {
        "type": "object",
        "description": "the attention's latest transfer, names as they were then",
        "properties": {
            "at": TIME,
            "by_agent_id": nullable(INTEGER),
            "by_agent_name": nullable(STRING),
            "from_campaign_id": STRING,
            "from_campaign_name": STRING,
            "to_campaign_id": STRING,
            "to_campaign_name": STRING,
            "to_agent_id": nullable(INTEGER),
            "to_agent_name": nullable(STRING),
            "note": nullable(STRING),
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
            "min_length": nullable(INTEGER),
            "max_length": nullable(INTEGER),
            "min": nullable({"type": "number"}),
            "max": nullable({"type": "number"}),
            # The id is the stored value; the label (data/campaigns.yml) is in the asked language.
            "options": {
                "type": "array",
                "items": {"type": "object", "required": ["id", "label"], "properties": {"id": STRING, "label": STRING}},
            },
            "default": {"nullable": True},
        },
    },
    "Detail": {
        "allOf": [
            ref("Summary"),
            {
                "type": "object",
                "properties": {
                    "form": {"type": "object", "additionalProperties": True},
                    "context": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                    "bot_values": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": "the slots the bot collected (kept across transfers)",
                    },
                    "text_limit": {
                        "type": "object",
                        "description": "Meta's limit on one text message of this channel",
                        "properties": {"max": INTEGER, "unit": {"type": "string", "enum": ["chars", "bytes"]}},
                    },
                    "window": {
                        "type": "object",
                        "properties": {
                            "last_customer_message_at": nullable(TIME),
                            "response_until": nullable(TIME),
                            "human_agent_until": nullable(TIME),
                            "human_agent_allowed": {"type": "boolean"},
                        },
                    },
                    "campaign": {
                        "type": "object",
                        "properties": {"id": STRING, "name": STRING, "form": {"type": "array", "items": ref("Field")}},
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
            "text": nullable(STRING),
            "payload": {"type": "object", "additionalProperties": True},
            "status": {"type": "string", "enum": ["received", "pending", "sent", "delivered", "read", "failed", "unknown"]},
            "error_code": nullable(INTEGER),
            "error_message": nullable(STRING),
            "agent_id": nullable(INTEGER),
            "agent": nullable(ref("AuthorAgent")),
            "created_at": TIME,
            "sent_at": nullable(TIME),
            "delivered_at": nullable(TIME),
            "read_at": nullable(TIME),
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
        "customer": {"allOf": [ref("Customer"), {"type": "object", "properties": {"initials": STRING}}]},
        "agent": nullable({"type": "object", "properties": {"id": INTEGER, "display_name": STRING}}),
        "created_at": TIME,
        "ended_at": TIME,
        "labels": {"type": "array", "items": ref("Label")},
    },
}
SCHEMAS["TrailEntry"] = {
    "type": "object",
    "properties": {
        "id": INTEGER,
        "action": {
            "type": "string",
            "description": "queued, open, transfer_to_campaign, transfer_to_agent, release, "
            "return_orphan, terminate, form_saved, label_applied, label_removed, started_outbound",
        },
        "at": TIME,
        "from_state": nullable(STRING),
        "to_state": nullable(STRING),
        "actor": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["agent", "bot", "system"]},
                "agent_id": nullable(INTEGER),
                "name": nullable(STRING),
            },
        },
        "detail": {"type": "object", "additionalProperties": True},
        "from_agent_name": STRING,
        "to_agent_name": STRING,
        "from_campaign_name": STRING,
        "to_campaign_name": STRING,
        "campaign_name": STRING,
    },
}
SCHEMAS["HistoryDetail"] = {
    "allOf": [
        ref("HistoryItem"),
        {
            "type": "object",
            "properties": {
                "context": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                "form": {"type": "object", "additionalProperties": True},
                "form_fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": STRING,
                            "label": STRING,
                            "type": nullable(STRING),
                            "value": {"nullable": True},
                            "value_label": {"nullable": True},
                        },
                    },
                },
                "trail": {"type": "array", "items": ref("TrailEntry")},
            },
        },
    ]
}
SCHEMAS["Overview"] = {
    "type": "object",
    "properties": {
        "at": TIME,
        "campaigns": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": STRING,
                    "name": STRING,
                    "queued": INTEGER,
                    "oldest_queued_since": nullable(TIME),
                    "oldest_waiting_seconds": nullable(INTEGER),
                    "open": INTEGER,
                    "agents_online": INTEGER,
                    "agents": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"id": INTEGER, "display_name": STRING, "online": {"type": "boolean"}, "open": INTEGER},
                        },
                    },
                },
            },
        },
        "agents": {
            "type": "array",
            "items": {
                "allOf": [
                    ref("Agent"),
                    {
                        "type": "object",
                        "properties": {
                            "online": {"type": "boolean"},
                            "last_seen_at": nullable(TIME),
                            "open": INTEGER,
                            "open_by_campaign": {"type": "object", "additionalProperties": INTEGER},
                        },
                    },
                ]
            },
        },
    },
}


ATTENTION = obj(attention=ref("Detail"))
SERVICE_ATTENTION = obj(attention=ref("ServiceAttention"))
