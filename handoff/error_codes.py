"""Every error code the handoff answers with, in one place.

An error carries a stable dotted code and JSON parameters; whoever shows it (the desk's
page, from its catalogue ``error.<code>`` in es and en) turns them into words. The English
``error`` text next to them is for developers and logs only. tests/desk/test_error_codes.py
checks that the page's catalogue has exactly these codes, in both languages.
"""

from __future__ import annotations


class ErrorCode:
    # -- sessions and doors
    AUTH_UNAUTHORIZED = "auth.unauthorized"  # no or unusable token
    AUTH_WRONG_CREDENTIALS = "auth.wrong_credentials"
    AUTH_DEACTIVATED = "auth.deactivated"
    AUTH_SESSION_ENDED = "auth.session_ended"
    AUTH_PASSWORD_CHANGED = "auth.password_changed"
    AUTH_ACCOUNT_GONE = "auth.account_gone"
    AUTH_TOO_MANY_ATTEMPTS = "auth.too_many_attempts"  # params: retry_after (seconds)
    AUTH_SUPERVISOR_ONLY = "auth.supervisor_only"
    AUTH_TOKEN_IN_URL = "auth.token_in_url"
    AUTH_ORIGIN_FORBIDDEN = "auth.origin_forbidden"
    SERVICE_OFF = "service.off"
    SERVICE_TOKEN_REQUIRED = "service.token_required"
    # -- the request itself
    REQUEST_INVALID = "request.invalid"  # params: field (when one is to blame)
    REQUEST_NOT_JSON = "request.not_json"
    REQUEST_TOO_LARGE = "request.too_large"  # params: limit_bytes
    STORAGE_BUSY = "storage.busy"
    NOT_FOUND = "resource.not_found"  # params: kind
    FILE_NOT_FOUND = "file.not_found"
    UPLOAD_MISSING = "upload.missing"
    UPLOAD_TOO_LARGE = "upload.too_large"  # params: limit_mb
    # -- things that do not exist
    ATTENTION_NOT_FOUND = "attention.not_found"  # params: attention_id
    AGENT_NOT_FOUND = "agent.not_found"
    LABEL_NOT_FOUND = "label.not_found"
    MESSAGE_NOT_FOUND = "message.not_found"
    CAMPAIGN_NOT_FOUND = "campaign.not_found"
    HISTORY_NOT_FOUND = "history.not_found"
    # -- who may do what
    AGENT_DEACTIVATED = "agent.deactivated"
    ATTENTION_NOT_YOURS = "attention.not_yours"  # params: attention_id
    CAMPAIGN_NOT_YOURS = "campaign.not_yours"  # params: campaign_id
    SUPERVISOR_ONLY = "supervisor.only"
    BOT_CANNOT_END_OPEN = "attention.open_not_bot"
    # -- races and states
    ATTENTION_NOT_QUEUED = "attention.not_queued"  # params: attention_id, state
    ATTENTION_TAKEN = "attention.taken"  # params: attention_id, agent_id
    ATTENTION_CANCELLED_BY_CUSTOMER = "attention.cancelled_by_customer"  # params: attention_id
    ATTENTION_CHANGED = "attention.changed"  # params: attention_id
    ATTENTION_ENDED = "attention.ended"
    ATTENTION_NOT_OPEN = "attention.not_open"  # params: attention_id, state
    ILLEGAL_TRANSITION = "attention.illegal_transition"  # params: state, action
    MESSAGE_RETRYING = "message.retrying"
    MESSAGE_NOT_FAILED = "message.not_failed"
    WINDOW_CLOSED = "window.closed"  # params: attention_id
    OUTBOUND_WINDOW_CLOSED = "outbound.window_closed"
    OUTBOUND_MESSENGER_ONLY = "outbound.messenger_only"
    CUSTOMER_BUSY = "customer.busy"  # params: active_attention_id, active_state
    # -- invalid input
    FORM_INVALID = "form.invalid"  # params: count; each field: field.<FieldError.code>
    FIELD_REQUIRED = "field.required"
    FIELD_UNKNOWN = "field.unknown_field"
    FIELD_NOT_TEXT = "field.not_text"
    FIELD_TOO_SHORT = "field.too_short"  # params: min, length
    FIELD_TOO_LONG = "field.too_long"  # params: max, length
    FIELD_NOT_A_NUMBER = "field.not_a_number"
    FIELD_BELOW_MIN = "field.below_min"  # params: min
    FIELD_ABOVE_MAX = "field.above_max"  # params: max
    FIELD_NOT_A_LIST = "field.not_a_list"
    FIELD_NOT_AN_OPTION = "field.not_an_option"
    FIELD_INVALID_DATE = "field.invalid_date"
    FIELD_INVALID = "field.invalid"  # a request field pydantic refused
    MESSAGE_EMPTY = "message.empty"
    MESSAGE_TOO_LONG = "message.too_long"  # params: limit, length, unit ("chars" or "bytes")
    ATTACHMENT_TYPE = "attachment.unknown_type"  # params: allowed
    ATTACHMENT_URL = "attachment.invalid_url"
    CAMPAIGN_GONE = "campaign.gone"  # params: campaign_id
    CAMPAIGN_UNKNOWN = "campaign.unknown"  # params: campaign_id (or campaigns)
    CAMPAIGN_WRONG_ACCOUNT = "campaign.wrong_account"  # params: campaign_id
    TRANSFER_SAME_CAMPAIGN = "transfer.same_campaign"
    TRANSFER_SAME_AGENT = "transfer.same_agent"
    TRANSFER_AGENT_NOT_IN_CAMPAIGN = "transfer.agent_not_in_campaign"  # params: agent_name
    LABEL_NAME = "label.invalid_name"
    LABEL_COLOUR = "label.invalid_colour"
    LABEL_EXISTS = "label.exists"  # params: name
    LABEL_RETIRED = "label.retired"  # params: name
    AGENT_EXISTS = "agent.exists"  # params: username
    AGENT_DISPLAY_NAME = "agent.display_name_required"
    AGENT_SELF_DEACTIVATE = "agent.self_deactivate"
    USERNAME_INVALID = "username.invalid"
    PASSWORD_NOT_TEXT = "password.not_text"
    PASSWORD_TOO_SHORT = "password.too_short"  # params: min
    PASSWORD_TOO_LONG = "password.too_long"  # params: max
    PASSWORDS_DIFFER = "password.mismatch"
    ROLE_INVALID = "role.invalid"
    STATUS_NOT_META = "status.not_meta"
    # -- the live socket's error frames
    LIVE_FRAME_INVALID = "live.frame_invalid"
    LIVE_RESTARTING = "live.restarting"  # a close reason: the page reconnects


ALL_CODES: frozenset[str] = frozenset(value for name, value in vars(ErrorCode).items() if name.isupper())
