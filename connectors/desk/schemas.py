"""What the desk's APIs accept: one pydantic (1.10) model per request body and query string.

The route tables (``connectors.desk.api``, ``connectors.desk.service_api``) name these
models; ``connectors.desk.routes`` parses each request with them before its handler runs,
and ``connectors.desk.openapi`` writes their ``schema()`` into the document, so what is
checked and what is documented are the same text.

Bodies use strict types: JSON says what it is, and ``"yes"`` is not ``true`` nor ``"7"`` a
message id. Query strings are text by nature, so their numbers are read from text, with
the ranges the storage can hold. Bodies that may carry anything else say so
(``Extra.ignore``, pydantic's default); the two PATCH bodies refuse unknown keys, as a
typo there would silently change nothing. The domain keeps the rules that need its data
(a form's fields, a message's length per channel, a label's colour, a password's policy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Extra, Field, StrictBool, StrictInt, StrictStr, conint, constr, validator

from handoff.history import DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE
from handoff.model import Channel, Direction
from handoff.queries import DEFAULT_PAGE_SIZE
from handoff.transfers import NOTE_MAX_LENGTH

MAX_PAGE_SIZE = 200
MAX_HISTORY_MESSAGES = 500
DEFAULT_HISTORY_MESSAGES = 200
MIN_SEARCH_LENGTH = 3
# A message id or a cursor from the query string: far below what a signed 64-bit column holds.
MAX_QUERY_ID = 2**62
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")  # checked by the label's route: a 422 of its own (label.invalid_colour)


class JsonObject(dict):
    """A JSON object, and only that: pydantic's ``dict`` would also take a list of pairs."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], Any]]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        return value

    @classmethod
    def __modify_schema__(cls, schema: dict[str, Any]) -> None:
        schema.update(type="object", additionalProperties=True)


class DayOrTime(datetime):
    """A day (``2026-11-25``: its start) or an ISO 8601 time; without a zone, UTC."""

    end_of_day = False

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], Any]]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 time")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                return datetime.combine(day + timedelta(days=1) if cls.end_of_day else day, time(), tzinfo=timezone.utc)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
            raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    @classmethod
    def __modify_schema__(cls, schema: dict[str, Any]) -> None:
        # Not "format: date-time": a bare day is as good.
        schema.pop("format", None)
        schema.update(type="string", pattern=r"^\d{4}-\d{2}-\d{2}")


class DayOrTimeEnd(DayOrTime):
    """As :class:`DayOrTime`, but a day means up to its end (the start of the next one)."""

    end_of_day = True


def _lang_field() -> Any:
    return Field(None, enum=["es", "en"], description="the language of campaign names and form labels (default es)")


def _id_field(description: str) -> Any:
    return Field(None, ge=1, le=MAX_QUERY_ID, description=description)


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (a browser or a proxy may add some)."""

    class Config:
        extra = Extra.ignore
        allow_population_by_field_name = True


class Languaged(Query):
    lang: str | None = _lang_field()

    @property
    def language(self) -> str:
        # Anything but English is the desk's first language; never an error.
        return "en" if self.lang == "en" else "es"


# -- the agents' API: query strings ---------------------------------------------------------


class AttentionsQuery(Query):
    channel: Channel | None = None
    q: str | None = Field(
        None, description=f"{MIN_SEARCH_LENGTH}+ characters: open attentions only, by name, id, label or message text"
    )

    @property
    def search(self) -> str:
        return (self.q or "").strip()


class AttentionPageQuery(Languaged):
    before: int | None = _id_field("messages older than this message id")
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class HistoryQuery(Query):
    q: str | None = Field(
        None,
        description="keyword: word prefixes over customer name, campaign name, message text, "
        "form values, end date (YYYY-MM-DD), label names; accents and case ignored",
    )
    ended_from: DayOrTime | None = Field(None, alias="from", description="ended at or after (YYYY-MM-DD or ISO time)")
    to: DayOrTimeEnd | None = Field(None, description="ended before (a day: up to its end)")
    campaign_id: str | None = None
    label_id: int | None = _id_field("a label's id")
    agent_id: int | None = _id_field("an agent's id")
    channel: Channel | None = None
    direction: Direction | None = None
    cursor: int | None = _id_field("the previous page's next_cursor")
    limit: int = Field(DEFAULT_HISTORY_PAGE, ge=1, le=MAX_HISTORY_PAGE)

    @property
    def keyword(self) -> str | None:
        return (self.q or "").strip() or None


class HistoryItemQuery(Languaged):
    before: int | None = _id_field("messages older than this message id")
    limit: int = Field(DEFAULT_HISTORY_MESSAGES, ge=1, le=MAX_HISTORY_MESSAGES)


class LabelsQuery(Query):
    all: str | None = Field(None, enum=["1", "true"], description="supervisors: retired labels too")

    @property
    def everything(self) -> bool:
        return self.all in ("1", "true")


# -- the agents' API: bodies ----------------------------------------------------------------


class Body(BaseModel):
    class Config:
        extra = Extra.ignore


class LoginBody(Body):
    username: constr(strict=True, min_length=1)  # type: ignore[valid-type]
    password: constr(strict=True, min_length=1)  # type: ignore[valid-type]


class LogoutBody(Body):
    return_to_queue: StrictBool = Field(False, description="give the caller's open attentions back to their queues first")


class AttachmentBody(Body):
    type: StrictStr = Field(..., description="image, video, audio or file")
    url: StrictStr = Field(..., description="an http(s) URL, e.g. an upload's")
    filename: str | None = None

    @validator("filename", pre=True)
    def _only_a_text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None  # a name is a nicety: anything else is dropped


class SendBody(Body):
    text: StrictStr | None = Field(None, description="the message; with an attachment, its caption")
    attachment: AttachmentBody | None = None


class FormBody(Body):
    values: JsonObject = Field(..., description="form field id: value")


class TerminateBody(Body):
    values: JsonObject | None = Field(None, description="form field id: value; none: the saved draft")


class ReadBody(Body):
    up_to_message_id: conint(strict=True, ge=1)  # type: ignore[valid-type]


class TransferBody(Body):
    """To a campaign (queued there) or to an agent (open for them): one of the two."""

    agent_id: StrictInt | None = None
    campaign_id: StrictStr | None = None
    note: constr(strict=True, max_length=NOTE_MAX_LENGTH) | None = None  # type: ignore[valid-type]

    @validator("campaign_id", always=True)
    def _one_target(cls, value: str | None, values: dict[str, Any]) -> str | None:
        if (value is None) == (values.get("agent_id") is None):
            raise ValueError("give campaign_id or agent_id (one of them)")
        return value


class OutboundBody(Body):
    campaign_id: StrictStr | None = Field(None, description="none: the customer's last campaign")


class LabelBody(Body):
    name: StrictStr
    colour: StrictStr | None = Field(None, description="#rrggbb (default #888888)")


class LabelChangeBody(Body):
    class Config:
        extra = Extra.forbid

    name: StrictStr = None  # type: ignore[assignment]
    colour: StrictStr = Field(None, description="#rrggbb")
    retired: StrictBool = None  # type: ignore[assignment]

    @validator("name", "colour", "retired", pre=True)
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # leaving a key out keeps its value; null is not a value
            raise ValueError("must not be null")
        return value


class UploadForm(Body):
    """multipart/form-data: read by its handler (``request.files``), documented from here."""

    file: bytes = Field(..., description="the file; 25 MB at most")


class AgentBody(Body):
    username: StrictStr
    password: StrictStr
    display_name: StrictStr | None = None
    role: StrictStr | None = Field(None, enum=["agent", "supervisor"], description="default agent")
    campaigns: list[StrictStr] | None = None


class AgentChangeBody(Body):
    """Only the keys sent change (``__fields_set__``); the password's policy is the domain's."""

    class Config:
        extra = Extra.forbid

    active: StrictBool = None  # type: ignore[assignment]
    campaigns: list[StrictStr] = None  # type: ignore[assignment]
    display_name: StrictStr = None  # type: ignore[assignment]
    password: Any = Field(None, type="string")

    @validator("active", "campaigns", "display_name", pre=True)
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value


# -- the action server's API (connectors.desk.service_api) ----------------------------------


class CustomerRef(Query):
    """Whose attention: the channel, the page or Instagram account, the customer's id."""

    channel: Channel
    account_id: str = Field("", max_length=64)
    customer_id: str = Field(..., min_length=1, max_length=64)


class HandoffRequest(CustomerRef):
    """What ``action_handoff`` sends to hand the customer over."""

    intent: str | None = Field(None, max_length=200)
    slots: dict[str, Any] = {}
    context: list[dict[str, Any]] = []
    customer_name: str | None = Field(None, max_length=500)
    customer_picture_url: str | None = Field(None, max_length=2000)  # the profile picture Meta gave
    reason: str | None = Field(None, max_length=1000)  # why the customer asked for a person
    language: str | None = Field(None, enum=["es", "en"])  # "en" for English; anything else: Spanish


class BotFormBody(Body):
    """Field ids (``values``) or the bot's slot names (``slots``, mapped by the campaign's
    ``prefill``); slots win when both come."""

    values: Any | None = Field(None, type="object", additionalProperties=True)
    slots: Any | None = Field(None, type="object", additionalProperties=True)


class BotTerminateBody(Body):
    reason: Any | None = Field(None, type="string", description="why (customer_cancelled, ...)")
