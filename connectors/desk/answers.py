"""What the desk's APIs answer: one pydantic (1.10) model per JSON shape that
connectors/desk/serializers.py (and the handlers' own small dicts) send.

The serializers keep building plain dicts, fast; these models only describe them. The
route tables name the model of each answer (``routes.Answer``), ``connectors.desk.openapi``
writes their ``schema()`` into the document, and tests/desk/test_answers_contract.py
parses every answer a real server gives with the model its route names - so the document
cannot say one thing while the server sends another.

The models are strict on purpose: every key the serializer always sends is required (a
null one is ``X | None = ...``: required, nullable), a key sent only sometimes is
:func:`sometimes` (absent or, unless said, not null), no other key is allowed, and JSON
types are not converted (``"7"`` is not an id, ``1`` is not ``true``). The records'
models are here; the answers of each route, which wrap them, are in
``connectors.desk.answer_bodies``, the WebSocket's frames in ``connectors.desk.answer_frames``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, Extra, StrictBool, StrictFloat, StrictInt, StrictStr, root_validator

from connectors.desk.schemas import JsonObject
from handoff.campaigns.model import FieldType
from handoff.model import ActorKind, Author, Channel, Direction, MessageDirection, MessageKind, MessageStatus, Role
from handoff.states import AttentionState

_NOT_NULL = "x_not_null"
# A nullable key that is always sent: ``agent_id: StrictInt | None = REQUIRED`` (pydantic
# reads ``...`` as required; typed Any so that type checkers take it for any field).
REQUIRED: Any = ...


class Time(str):
    """An ISO 8601 time with its zone, as ``datetime.isoformat()`` writes it."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], Any]]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 time (a string)")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError("must say its time zone")
        return value

    @classmethod
    def __modify_schema__(cls, schema: dict[str, Any]) -> None:
        schema.update(type="string", format="date-time")


Number = StrictInt | StrictFloat  # an integral bound is sent as an integer


def sometimes(description: str | None = None, *, nullable: bool = False, alias: str | None = None) -> Any:
    """A key the serializer sends only in some cases: absent, or (unless ``nullable``) not null."""
    extra: dict[str, Any] = {} if nullable else {_NOT_NULL: True}
    return pydantic.Field(None, alias=alias, description=description, **extra)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:  # OpenAPI 3.0 ignores a $ref's siblings
        schema = {"allOf": [{"$ref": schema.pop("$ref")}], **schema}
    return {**schema, "nullable": True}


class Shape(BaseModel):
    """Base of every answer's model: exactly these keys, no conversions."""

    class Config:
        extra = Extra.forbid

        @staticmethod
        def schema_extra(schema: dict[str, Any], model: type[BaseModel]) -> None:
            properties = schema.get("properties", {})
            for field in model.__fields__.values():
                described = properties.get(field.alias)
                if described is None:
                    continue
                not_null = described.pop(_NOT_NULL, False)
                if field.allow_none and not not_null:
                    properties[field.alias] = _nullable(described)

    @root_validator(pre=True)
    def absent_or_set(cls, values: dict[str, Any]) -> dict[str, Any]:
        for field in cls.__fields__.values():
            if field.field_info.extra.get(_NOT_NULL) and field.alias in values and values[field.alias] is None:
                raise ValueError(f"{field.alias} is absent or set, never null")
        return values


# -- people, labels, campaigns ---------------------------------------------------------------


class Agent(Shape):
    id: StrictInt
    username: StrictStr
    display_name: StrictStr
    role: Role
    campaigns: list[StrictStr]
    active: StrictBool


class Label(Shape):
    id: StrictInt
    name: StrictStr
    colour: StrictStr
    retired: StrictBool


class Customer(Shape):
    id: StrictStr
    name: StrictStr
    picture_url: StrictStr | None = pydantic.Field(..., description="null once Meta's link has expired")


class Campaign(Shape):
    id: StrictStr
    name: StrictStr
    channels: list[Channel]
    human_agent_tag: StrictBool


class AuthorAgent(Shape):
    """The agent who wrote a message."""

    id: StrictInt
    name: StrictStr | None = REQUIRED


# -- attentions ------------------------------------------------------------------------------


class Transfer(Shape):
    """The attention's latest transfer, names as they were then."""

    at: Time
    by_agent_id: StrictInt | None = REQUIRED
    by_agent_name: StrictStr | None = REQUIRED
    from_campaign_id: StrictStr
    from_campaign_name: StrictStr
    to_campaign_id: StrictStr
    to_campaign_name: StrictStr
    to_agent_id: StrictInt | None = REQUIRED
    to_agent_name: StrictStr | None = REQUIRED
    note: StrictStr | None = REQUIRED


class LastMessage(Shape):
    text: StrictStr | None = REQUIRED
    kind: MessageKind
    author: Author
    agent: AuthorAgent | None = REQUIRED
    attachment_types: list[StrictStr]
    payload: JsonObject | None = pydantic.Field(..., description="a transfer line's Transfer; null for other kinds")
    at: Time


class Summary(Shape):
    """One attention of the lists (and of the WebSocket's attention frames)."""

    placed: Literal["queued", "open"] | None = sometimes(
        "the viewer's list it is in (null: none); sent to an agent, not in the service's frames", nullable=True, alias="list"
    )
    id: StrictInt
    state: AttentionState
    channel: Channel
    direction: Direction
    campaign_id: StrictStr
    campaign_name: StrictStr
    agent_id: StrictInt | None = REQUIRED
    customer: Customer
    created_at: Time
    updated_at: Time
    last_message: LastMessage | None = REQUIRED
    unread: StrictInt
    labels: list[Label]
    reason: StrictStr | None = pydantic.Field(..., description="why the customer asked for a person, in their words")
    transfer: Transfer | None = REQUIRED


class FieldOption(Shape):
    """A choice: the id is the stored value; the label (data/campaigns.yml) is in the asked language."""

    id: StrictStr
    label: StrictStr


class Field(Shape):
    """One field of a campaign's form."""

    id: StrictStr
    label: StrictStr
    type: FieldType
    required: StrictBool
    min_length: StrictInt | None = REQUIRED
    max_length: StrictInt | None = REQUIRED
    min: Number | None = REQUIRED
    max: Number | None = REQUIRED
    options: list[FieldOption]
    default: Any = REQUIRED


class TextLimit(Shape):
    """Meta's limit on one text message of this channel."""

    max: StrictInt
    unit: Literal["chars", "bytes"]


class Window(Shape):
    """The customer's messaging windows."""

    last_customer_message_at: Time | None = REQUIRED
    response_until: Time | None = REQUIRED
    human_agent_until: Time | None = REQUIRED
    human_agent_allowed: StrictBool


class DetailCampaign(Shape):
    id: StrictStr
    name: StrictStr
    form: list[Field]


class Detail(Summary):
    """Summary + the form, the bot's context, the 24 h window and the campaign's form."""

    form: JsonObject
    context: list[JsonObject]
    bot_values: JsonObject = pydantic.Field(..., description="the slots the bot collected (kept across transfers)")
    text_limit: TextLimit
    window: Window
    campaign: DetailCampaign


class Message(Shape):
    id: StrictInt
    attention_id: StrictInt
    direction: MessageDirection
    author: Author
    kind: MessageKind
    text: StrictStr | None = REQUIRED
    payload: JsonObject
    status: MessageStatus
    error_code: StrictInt | None = REQUIRED
    error_message: StrictStr | None = REQUIRED
    agent_id: StrictInt | None = REQUIRED
    agent: AuthorAgent | None = REQUIRED
    created_at: Time
    sent_at: Time | None = REQUIRED
    delivered_at: Time | None = REQUIRED
    read_at: Time | None = REQUIRED


# -- history ---------------------------------------------------------------------------------


class HistoryCustomer(Customer):
    initials: StrictStr


class HistoryAgent(Shape):
    """Who held the attention when it ended."""

    id: StrictInt
    display_name: StrictStr | None = REQUIRED


class HistoryItem(Shape):
    id: StrictInt = pydantic.Field(..., description="the attention id")
    channel: Channel
    direction: Direction
    campaign_id: StrictStr
    campaign_name: StrictStr
    customer: HistoryCustomer
    agent: HistoryAgent | None = REQUIRED
    created_at: Time
    ended_at: Time
    labels: list[Label]


class TrailActor(Shape):
    kind: ActorKind
    agent_id: StrictInt | None = REQUIRED
    name: StrictStr | None = REQUIRED


class TrailEntry(Shape):
    """One line of the audit trail, with the names of the agents and campaigns it mentions."""

    id: StrictInt
    action: StrictStr = pydantic.Field(
        ...,
        description="queued, open, transfer_to_campaign, transfer_to_agent, release, "
        "return_orphan, terminate, form_saved, label_applied, label_removed, started_outbound",
    )
    at: Time
    from_state: AttentionState | None = REQUIRED
    to_state: AttentionState | None = REQUIRED
    actor: TrailActor
    detail: JsonObject
    reason: StrictStr = sometimes("the detail's reason (customer_cancelled: the customer cancelled)")
    from_agent_name: StrictStr | None = sometimes("with detail.from_agent_id (null: no such agent)", nullable=True)
    to_agent_name: StrictStr | None = sometimes("with detail.to_agent_id (null: no such agent)", nullable=True)
    from_campaign_name: StrictStr = sometimes("with detail.from_campaign_id")
    to_campaign_name: StrictStr = sometimes("with detail.to_campaign_id")
    campaign_name: StrictStr = sometimes("with detail.campaign_id")


class FormFieldValue(Shape):
    """A form value with its field's label; a value of no field of the form has type null."""

    id: StrictStr
    label: StrictStr
    type: FieldType | None = REQUIRED
    value: Any = pydantic.Field(..., description="as stored (option ids)")
    value_label: Any = pydantic.Field(..., description="as people read it")


class HistoryDetail(HistoryItem):
    context: list[JsonObject]
    form: JsonObject
    form_fields: list[FormFieldValue]
    trail: list[TrailEntry]


# -- the service API -------------------------------------------------------------------------


class ServiceAttention(Shape):
    id: StrictInt
    state: AttentionState
    channel: Channel
    account_id: StrictStr
    customer_id: StrictStr
    campaign_id: StrictStr
    agent_id: StrictInt | None = REQUIRED
    form: JsonObject
    created_at: Time


# -- errors ----------------------------------------------------------------------------------


class FieldError(Shape):
    code: StrictStr
    params: JsonObject


class Error(Shape):
    """Every error answer: ``code`` and ``params`` for the page's words, ``error`` in English."""

    error: StrictStr = pydantic.Field(..., description="English, for developers and logs; pages show the code's text")
    code: StrictStr = pydantic.Field(..., description="what happened, stable and dotted (handoff/error_codes.py)")
    params: JsonObject = pydantic.Field(..., description="the values the code's text needs")
    fields: dict[StrictStr, StrictStr] = sometimes("400/422, a refused value: English text by field id")
    field_errors: dict[StrictStr, FieldError] = sometimes("400/422, a refused value: per field id, {code, params}")
    window_closed: StrictBool = sometimes("409: Meta's messaging window is closed")
    reason: StrictStr = sometimes("409 window_closed on an outbound start: why")
    window: Window = sometimes("409 window_closed on an outbound start: the customer's windows")
    active_attention_id: StrictInt = sometimes("409: the customer's active attention")
    active_state: AttentionState = sometimes("409: its state (queued or open)")
    active_agent_id: StrictInt | None = sometimes("409: who holds it", nullable=True)
    retry_after: StrictInt = sometimes("429: seconds to wait")
