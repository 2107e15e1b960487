"""The output channel against the fake Graph API over HTTP: every Rasa output method,
Meta's limits, error classification, retries and the ambiguous timeout."""

from __future__ import annotations

import aiohttp
import pytest

from connectors.instagram import InstagramOutput
from connectors.messenger import MessengerOutput
from connectors.meta.errors import ErrorKind, GraphError
from connectors.meta.graph import GraphClient, GraphSettings, RetryPolicy
from sandbox.graph_api import FakeGraphAPI
from tests.connectors.harness import INSTAGRAM_TOKEN, PAGE_TOKEN

FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.01, rate_limit_backoff=0.02, echo_wait=0.3)


@pytest.fixture
async def graph():
    async with FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"}, emit_echoes=False, emit_deliveries=False
    ) as api:
        yield api


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def client(session, graph, token=PAGE_TOKEN, timeout=5.0, retry=FAST_RETRIES) -> GraphClient:
    return GraphClient(session, GraphSettings(token, graph.url, "v21.0", timeout=timeout), retry=retry)


def messages(graph):
    """The messages Meta accepted."""
    return [request.json["message"] for request in graph.sent_messages()]


def attempts(graph):
    """Every send that reached the fake Graph API, accepted or not."""
    return [request for request in graph.requests if request.kind == "message"]


async def test_long_messenger_text_is_split_on_sentences_within_2000_characters(graph, session):
    output = MessengerOutput(client(session, graph))
    text = " ".join(f"Frase número {n} con algo de contenido." for n in range(150))
    await output.send_text_message("psid", text)
    pieces = [message["text"] for message in messages(graph)]
    assert len(pieces) > 1 and all(len(piece) <= 2000 for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)
    assert " ".join(pieces) == text
    assert output.failures == []


async def test_instagram_text_is_split_within_1000_bytes(graph, session):
    output = InstagramOutput(client(session, graph, INSTAGRAM_TOKEN))
    text = "ñandú " * 300  # two bytes per ñ and ú
    await output.send_text_message("igsid", text)
    pieces = [message["text"] for message in messages(graph)]
    assert len(pieces) >= 3 and all(len(piece.encode()) <= 1000 for piece in pieces)
    assert output.failures == []


async def test_three_buttons_ride_a_button_template(graph, session):
    output = MessengerOutput(client(session, graph))
    buttons = [
        {"title": "Sí", "payload": "/affirm"},
        {"title": "No", "payload": "/deny"},
        {"title": "Web", "url": "https://example.com"},
    ]
    await output.send_text_with_buttons("psid", "¿Hablamos?", buttons)
    [message] = messages(graph)
    payload = message["attachment"]["payload"]
    assert payload["template_type"] == "button" and payload["text"] == "¿Hablamos?"
    assert [button["type"] for button in payload["buttons"]] == ["postback", "postback", "web_url"]


async def test_more_buttons_become_at_most_13_quick_replies_each(graph, session):
    output = MessengerOutput(client(session, graph))
    buttons = [{"title": f"Opción con un título largo {n}", "payload": f"/choose{n}"} for n in range(20)]
    await output.send_text_with_buttons("psid", "Elige", buttons)
    sent = messages(graph)
    assert [len(message["quick_replies"]) for message in sent] == [13, 7]
    assert all(len(reply["title"]) <= 20 for message in sent for reply in message["quick_replies"])
    assert output.failures == []


async def test_images_attachments_elements_and_custom_json(graph, session):
    output = MessengerOutput(client(session, graph))
    await output.send_response("psid", {"image": "https://example.com/a.png"})
    await output.send_response("psid", {"attachment": {"type": "file", "payload": {"url": "https://example.com/f.pdf"}}})
    await output.send_response(
        "psid",
        {
            "elements": [
                {"title": f"Card {n}", "subtitle": "s", "buttons": [{"title": "Ver", "url": "https://e.com"}]} for n in range(12)
            ]
        },
    )
    await output.send_response("psid", {"custom": {"text": "raw Send API message"}})
    await output.send_response("psid", {"custom": {"sender_action": "typing_on"}})
    sent = messages(graph)
    assert sent[0]["attachment"]["type"] == "image"
    assert sent[1]["attachment"]["payload"]["url"] == "https://example.com/f.pdf"
    assert [len(m["attachment"]["payload"]["elements"]) for m in sent[2:4]] == [10, 2]
    assert sent[4]["text"] == "raw Send API message"
    assert [request.json["sender_action"] for request in graph.sender_actions()] == ["typing_on"]


async def test_every_send_carries_our_metadata_token_for_echo_matching(graph, session):
    await MessengerOutput(client(session, graph)).send_text_message("psid", "hola")
    assert messages(graph)[0]["metadata"].startswith("rasa-handoff:")


async def test_transient_errors_are_retried_until_they_succeed(graph, session):
    graph.fail_next(2, http_status=500, code=1200)
    result = await client(session, graph).send_message("psid", {"text": "hola"})
    assert result.attempts == 3 and result.message_id


async def test_rate_limits_back_off_and_retry(graph, session):
    graph.rate_limit_next(1)
    result = await client(session, graph).send_message("psid", {"text": "hola"})
    assert result.attempts == 2


@pytest.mark.parametrize(
    "fault,kind",
    [
        (dict(http_status=400, code=10, subcode=2018278), ErrorKind.WINDOW_CLOSED),
        (dict(http_status=400, code=551, subcode=1545041), ErrorKind.RECIPIENT_UNAVAILABLE),
        (dict(http_status=400, code=100), ErrorKind.INVALID_PARAMETER),
        (dict(http_status=400, code=200), ErrorKind.PERMISSION),
    ],
)
async def test_permanent_errors_are_not_retried_and_keep_metas_code(graph, session, fault, kind):
    graph.fail_next(1, **fault)
    with pytest.raises(GraphError) as raised:
        await client(session, graph).send_message("psid", {"text": "hola"})
    assert raised.value.kind is kind and raised.value.code == fault["code"]
    assert len(attempts(graph)) == 1  # one attempt only


async def test_an_invalid_token_is_not_retried(graph, session):
    with pytest.raises(GraphError) as raised:
        await client(session, graph, token="expired").send_message("psid", {"text": "hola"})
    assert raised.value.kind is ErrorKind.INVALID_TOKEN and raised.value.code == 190
    assert len(graph.requests) == 1


async def test_retries_give_up_after_the_policy_attempts(graph, session):
    graph.fail_next(10, http_status=503, code=2)
    with pytest.raises(GraphError) as raised:
        await client(session, graph).send_message("psid", {"text": "hola"})
    assert raised.value.kind is ErrorKind.TRANSIENT
    assert len(attempts(graph)) == FAST_RETRIES.attempts


async def test_a_failed_bot_message_is_logged_with_metas_error_and_the_turn_goes_on(graph, session):
    output = MessengerOutput(client(session, graph))
    graph.fail_next(1, http_status=400, code=10, subcode=2018278)
    await output.send_text_message("psid", "primero")
    await output.send_text_message("psid", "segundo")
    assert [failure.subcode for failure in output.failures] == [2018278]
    assert [message["text"] for message in messages(graph)] == ["segundo"]


async def test_an_ambiguous_timeout_is_reconciled_with_the_echo_and_not_sent_twice(graph, session):
    graph_client = client(session, graph, timeout=0.2)
    graph.delay_next(1.0, accept=True)  # Meta accepts at once, answers too late

    async def deliver_echo(record):
        if record.accepted and record.json and "message" in record.json:
            graph_client.echoes.confirm(record.json["message"]["metadata"], record.message_id)

    graph.add_listener(deliver_echo)
    result = await graph_client.send_message("psid", {"text": "una vez"})
    accepted = graph.sent_messages()
    assert len(attempts(graph)) == 1 and len(accepted) == 1 and result.message_id == accepted[0].message_id


async def test_a_timeout_without_echo_is_retried(graph, session):
    graph.delay_next(1.0, accept=False)
    result = await client(session, graph, timeout=0.2).send_message("psid", {"text": "hola"})
    assert result.attempts == 2
