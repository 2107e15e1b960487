"""The item parser on arbitrary JSON: 2,000 generated bodies, Meta's shapes with any part
replaced by any JSON value. Nothing here may raise; what reaches the inbox must survive a
round trip through its JSON column; every later step (the Rasa message, the attention
record) must accept what the parser made."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from rasa.core.channels.channel import CollectingOutputChannel

from connectors.meta.events import (
    Event,
    conversation_key,
    dedup_key,
    inbound_event_for,
    iter_items,
    parse,
    parse_stored,
    stored_payload,
)
from connectors.meta.routing import user_message_for
from tests.reliability.strategies import bodies


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies)
def test_any_body_is_parsed_without_raising_and_survives_the_inbox(body):
    channel = "instagram" if body.get("object") == "instagram" else "messenger"
    for item in iter_items(channel, body):
        key, conversation = dedup_key(item), conversation_key(item)
        assert isinstance(key, str) and key and isinstance(conversation, str)
        assert dedup_key(copy.deepcopy(item)) == key  # a redelivery is recognised

        stored = json.loads(json.dumps(stored_payload(item)))  # the inbox's JSON column
        event = parse(item)
        replayed = parse_stored(channel, stored)  # a replay's parse: the same function
        assert isinstance(event, Event) and type(replayed) is type(event)
        assert (replayed.customer_id, replayed.mid, replayed.standby) == (event.customer_id, event.mid, event.standby)
        assert isinstance(event.customer_id, str) and isinstance(event.timestamp, int)
        assert event.mid is None or isinstance(event.mid, str)

        message = user_message_for(event, CollectingOutputChannel(), channel)
        if message is not None:
            assert isinstance(message.text, str) and message.text
            assert message.message_id is None or isinstance(message.message_id, str)
            json.dumps(message.metadata)
        inbound = inbound_event_for(event)
        if inbound is not None:
            assert inbound.text is None or isinstance(inbound.text, str)
            assert inbound.mid is None or isinstance(inbound.mid, str)
            json.dumps(dict(inbound.payload), default=str)
