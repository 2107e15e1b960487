"""Validation of Send API bodies against Meta's documented limits.

Each check returns Meta-like wording for an invalid-parameter error (code 100). The fake
Graph API answers HTTP 400 with it, so tests can prove the connector splits long texts,
caps quick replies and trims templates instead of losing messages in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .meta import (
    BUTTONS_MAX,
    GENERIC_ELEMENTS_MAX,
    INSTAGRAM_TEXT_MAX_BYTES,
    MESSENGER_TEXT_MAX_CHARS,
    METADATA_MAX_CHARS,
    QUICK_REPLIES_MAX,
    QUICK_REPLY_TITLE_MAX,
    Channel,
)

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")
SEND_API_ATTACHMENT_TYPES = ("image", "video", "audio", "file", "template")
INSTAGRAM_TAGS = ("HUMAN_AGENT",)


def validate_send(channel: Channel, body: Any) -> str | None:
    """Return an error message for an invalid Send API body, or None when Meta would accept it."""
    if not isinstance(body, Mapping):
        return "(#100) The request body must be a JSON object"
    recipient = body.get("recipient")
    if not isinstance(recipient, Mapping) or not any(recipient.get(k) for k in ("id", "user_ref", "comment_id")):
        return "(#100) The parameter recipient is required"
    has_message, has_action = "message" in body, "sender_action" in body
    if has_message == has_action:
        return "(#100) Exactly one of message or sender_action must be specified"
    if has_action:
        if body["sender_action"] not in SENDER_ACTIONS:
            return f"(#100) Param sender_action must be one of {{{', '.join(SENDER_ACTIONS).upper()}}}"
        return None
    return _check_messaging_type(channel, body) or _check_message(channel, body["message"])


def _check_messaging_type(channel: Channel, body: Mapping[str, Any]) -> str | None:
    messaging_type = body.get("messaging_type")
    if messaging_type not in MESSAGING_TYPES:
        return "(#100) param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
    tag = body.get("tag")
    if messaging_type == "MESSAGE_TAG":
        if not tag:
            return "(#100) Param tag is required when messaging_type is MESSAGE_TAG"
        if channel == "instagram" and tag not in INSTAGRAM_TAGS:
            return f"(#100) Tag {tag} is not supported for Instagram messaging"
    return None


def _check_message(channel: Channel, message: Any) -> str | None:
    if not isinstance(message, Mapping):
        return "(#100) param message must be an object"
    has_text, has_attachment = "text" in message, "attachment" in message
    if has_text == has_attachment:
        return "(#100) Exactly one of message[text] or message[attachment] must be specified"
    metadata = message.get("metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > METADATA_MAX_CHARS):
        return f"(#100) Length of param message[metadata] must be less than or equal to {METADATA_MAX_CHARS}"
    problem = _check_text(channel, message["text"]) if has_text else _check_attachment(message["attachment"])
    return problem or _check_quick_replies(message.get("quick_replies"))


def _check_text(channel: Channel, text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "(#100) The parameter message[text] must be a non-empty string"
    if channel == "instagram":
        # Instagram counts UTF-8 bytes: 1000 bytes can be as few as 250 emoji.
        if len(text.encode("utf-8")) > INSTAGRAM_TEXT_MAX_BYTES:
            return f"(#100) Length of param message[text] must be less than or equal to {INSTAGRAM_TEXT_MAX_BYTES} bytes"
    elif len(text) > MESSENGER_TEXT_MAX_CHARS:
        return f"(#100) Length of param message[text] must be less than or equal to {MESSENGER_TEXT_MAX_CHARS}"
    return None


def _check_attachment(attachment: Any) -> str | None:
    if not isinstance(attachment, Mapping) or attachment.get("type") not in SEND_API_ATTACHMENT_TYPES:
        return f"(#100) param message[attachment][type] must be one of {{{', '.join(SEND_API_ATTACHMENT_TYPES)}}}"
    payload = attachment.get("payload")
    if not isinstance(payload, Mapping):
        return "(#100) param message[attachment][payload] must be an object"
    if attachment["type"] == "template":
        return _check_template(payload)
    if not (payload.get("url") or payload.get("attachment_id")):
        return "(#100) message[attachment][payload] needs a url or an attachment_id"
    return None


def _check_template(payload: Mapping[str, Any]) -> str | None:
    kind = payload.get("template_type")
    if kind == "button":
        if not isinstance(payload.get("text"), str) or not payload["text"]:
            return "(#100) param message[attachment][payload][text] is required"
        return _check_buttons(payload.get("buttons"), "payload[buttons]", required=True)
    if kind == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            return "(#100) param message[attachment][payload][elements] must be a non-empty array"
        if len(elements) > GENERIC_ELEMENTS_MAX:
            return f"(#100) param elements has more than the maximum of {GENERIC_ELEMENTS_MAX} elements"
        for index, element in enumerate(elements):
            if not isinstance(element, Mapping) or not element.get("title"):
                return f"(#100) param elements[{index}][title] is required"
            problem = _check_buttons(element.get("buttons"), f"elements[{index}][buttons]", required=False)
            if problem:
                return problem
        return None
    if kind in ("media", "product", "receipt", "customer_feedback"):
        return None
    return "(#100) param message[attachment][payload][template_type] is not a supported template"


def _check_buttons(buttons: Any, where: str, *, required: bool) -> str | None:
    if buttons is None and not required:
        return None
    if not isinstance(buttons, list) or (required and not buttons):
        return f"(#100) param {where} must be a non-empty array"
    if len(buttons) > BUTTONS_MAX:
        return f"(#100) param {where} has more than the maximum of {BUTTONS_MAX} buttons"
    for button in buttons:
        if not isinstance(button, Mapping) or not button.get("type"):
            return f"(#100) every item of {where} needs a type"
    return None


def _check_quick_replies(quick_replies: Any) -> str | None:
    if quick_replies is None:
        return None
    if not isinstance(quick_replies, list) or not quick_replies:
        return "(#100) param message[quick_replies] must be a non-empty array"
    if len(quick_replies) > QUICK_REPLIES_MAX:
        return f"(#100) param message[quick_replies] must have at most {QUICK_REPLIES_MAX} items"
    for index, reply in enumerate(quick_replies):
        problem = _check_quick_reply(index, reply)
        if problem:
            return problem
    return None


def _check_quick_reply(index: int, reply: Any) -> str | None:
    if not isinstance(reply, Mapping):
        return f"(#100) param message[quick_replies][{index}] must be an object"
    content_type = reply.get("content_type", "text")
    if content_type in ("user_email", "user_phone_number"):
        return None
    if content_type != "text":
        return f"(#100) param message[quick_replies][{index}][content_type] is invalid"
    title = reply.get("title")
    if not isinstance(title, str) or not title:
        return f"(#100) param message[quick_replies][{index}][title] is required"
    if len(title) > QUICK_REPLY_TITLE_MAX:
        return f"(#100) param message[quick_replies][{index}][title] must be at most {QUICK_REPLY_TITLE_MAX} characters"
    if not reply.get("payload"):
        return f"(#100) param message[quick_replies][{index}][payload] is required"
    return None
