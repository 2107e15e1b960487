"""The handoff actions against the real handoff service on loopback (tests/actions/conftest.py).

Each test runs an action the way the action server does: a ``rasa_sdk.Tracker`` made from
the tracker state Rasa sends, a ``CollectingDispatcher``, our domain; then checks what the
customer is told, the events returned and what the service now holds (the attention, its
form, context and campaign, the customer, the audit trail). Faults the server can't make on
demand come from a fault-injecting proxy in between (tests/actions/faulty_proxy.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    ActionHandoff,
    ActionRecordFormFields,
    ActionTerminateAttention,
    ValidateHandoffForm,
    clean_customer_name,
    clean_handoff_reason,
    collected_slots,
    conversation_context,
    handoff_intent,
    session_events,
)
from actions.handoff_api import SERVICE_TOKEN_ENV, SERVICE_URL_ENV
from handoff.model import ActorKind, Channel
from handoff.states import AttentionState
from tests.actions.conversations import (
    DOMAIN,
    IG_ACCOUNT_ID,
    IGSID,
    OFFER_BUTTONS,
    PAGE_ID,
    PSID,
    START,
    ConversationBuilder,
    iso,
    spanish_handoff_conversation,
)
from tests.actions.faulty_proxy import FaultyProxy
from tests.actions.real_service import (
    active,
    all_attentions,
    core,
    customer_of,
    handoff_message,
    opened_by_an_agent,
    queued,
    trail,
)
from tests.connectors.harness import ConnectorServer

DOMAIN_DICT = DOMAIN.as_dict()
ACTIVE_PATH = "/attentions/active$"
FORM_PATH = r"/attentions/\d+/form$"
TERMINATE_PATH = r"/attentions/\d+/terminate$"


async def run(action: Action, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN_DICT)
    return events, dispatcher.messages


def responses(messages: list[dict[str, Any]]) -> list[Any]:
    return [m.get("response") or m.get("text") for m in messages]


def hand_over_texts(messages: list[dict[str, Any]]) -> list[Any]:
    """What action_handoff said: the campaign's text, through `utter_handoff_queued` (which
    adds the designer's "stop waiting" button)."""
    assert responses(messages) == ["utter_handoff_queued"] * len(messages)
    return [m["handoff_message"] for m in messages]


def actions_of(events) -> list[tuple]:
    """An audit trail as (who, what)."""
    return [(event.actor.kind, event.action) for event in events]


# -- action_handoff ----------------------------------------------------------------------


async def test_handoff_queues_an_attention_with_the_bots_part_and_pauses(service: ConnectorServer) -> None:
    tracker = spanish_handoff_conversation().tracker()
    events, messages = await run(ActionHandoff(), tracker)

    # One attention, queued in the default campaign for this customer and Page.
    [attention] = await all_attentions(service)
    assert (attention.channel, attention.account_id, attention.customer_id) == (Channel.MESSENGER, PAGE_ID, PSID)
    assert attention.state is AttentionState.QUEUED and attention.campaign_id == "soporte"
    assert attention.intent == "request_human"  # what led to the form, not the form's answers
    assert (await customer_of(service, attention.id)).name == "María Pérez"
    assert actions_of(await trail(service, attention.id)) == [(ActorKind.BOT, "queued")]

    # The slots it handed over (the bot's bookkeeping left out) pre-filled the form.
    assert collected_slots(tracker) == {
        "language": "es",
        "attachment_type": "image",
        "customer_name": "María Pérez",
        "handoff_reason": "mi pedido 45678 no ha llegado",
        "order_number": "45678",
    }
    assert attention.form == {"nombre": "María Pérez", "motivo": "mi pedido 45678 no ha llegado", "numero_pedido": "45678"}

    # Only today's session; times in ISO 8601 UTC; the tapped button by its title.
    context = [dict(line) for line in attention.context]
    assert [(line["author"], line["text"]) for line in context] == [
        ("customer", "hola"),
        ("bot", "¡Hola! 👋 Soy el asistente virtual."),
        ("customer", None),
        ("bot", "¡Gracias! Recibí tu archivo."),
        ("customer", "xkcd qwrtz"),
        ("bot", "Disculpa, no estoy seguro de poder ayudarte con eso. ¿Quieres que te comunique con una persona?"),
        ("customer", "Sí, con una persona"),
        ("bot", "Te comunico con una persona de nuestro equipo. Antes, ¿cómo te llamas?"),
        ("customer", "María Pérez"),
        ("bot", "Gracias, María Pérez. Cuéntame en un mensaje en qué te podemos ayudar."),
        ("customer", "mi pedido 45678 no ha llegado"),
    ]
    customer_lines = [line for line in context if line["author"] == "customer"]
    assert [line["intent"] for line in customer_lines] == [
        "greet",
        "receive_attachment",
        "nlu_fallback",
        "request_human",
        "nlu_fallback",
        "ask_order_status",
    ]
    assert all("intent" not in line for line in context if line["author"] == "bot")
    assert context[2]["attachments"] == [{"type": "image", "url": "https://cdn.example/photo.jpg"}]
    assert context[0]["time"] == iso(START + 86_400 + 10)
    assert all(line["time"].endswith("+00:00") for line in context)
    assert [line["time"] for line in context] == sorted(line["time"] for line in context)

    # The campaign's hand-over text, then the bot stops.
    assert hand_over_texts(messages) == [handoff_message(service, "soporte", "es")]
    assert events == [SlotSet("attention_id", attention.id), SlotSet("handoff_reason", None), ConversationPaused()]


async def test_handoff_is_idempotent(service: ConnectorServer, caplog) -> None:
    tracker = spanish_handoff_conversation().tracker()
    with caplog.at_level(logging.INFO, logger="actions.handoff"):
        first_events, _ = await run(ActionHandoff(), tracker)
        second_events, second_messages = await run(ActionHandoff(), tracker)

    [attention] = await all_attentions(service)
    assert actions_of(await trail(service, attention.id)) == [(ActorKind.BOT, "queued")]
    assert f"attention {attention.id} (created" in caplog.text  # 201
    assert f"attention {attention.id} (already active" in caplog.text  # then 200
    assert first_events == second_events  # same attention id, still pauses
    assert SlotSet("attention_id", attention.id) in second_events and ConversationPaused() in second_events
    assert hand_over_texts(second_messages) == [handoff_message(service, "soporte", "es")]


async def test_english_instagram_customer_goes_to_sales_in_english(service: ConnectorServer) -> None:
    b = ConversationBuilder(sender_id=IGSID, channel="instagram", account_id=IG_ACCOUNT_ID, profile_name="emily.j")
    b.session_start()
    b.user("I want to talk to a human", "request_human", slots={"language": "en"})
    b.action("handoff_form").loop("handoff_form").slot("requested_slot", "customer_name")
    b.bot("utter_ask_customer_name", "I'll put you in touch with someone from our team. First, what's your name?")
    b.user("Emily Johnson", "nlu_fallback", confidence=0.6)
    b.action("handoff_form").slot("customer_name", "Emily Johnson").slot("requested_slot", "handoff_reason")
    b.bot("utter_ask_handoff_reason", "Thanks, Emily Johnson. Tell me in one message what you need help with.")
    # A shopper's question (what the trained model calls it): Instagram shoppers go to sales.
    b.user("do you have these shoes in size 40?", "ask_product")
    b.action("handoff_form").slot("handoff_reason", "do you have these shoes in size 40?").loop(None).slot("requested_slot", None)

    events, messages = await run(ActionHandoff(), b.tracker())

    attention = await active(service, "instagram", IG_ACCOUNT_ID, IGSID)
    assert attention is not None and attention.campaign_id == "ventas"
    assert attention.intent == "request_human"
    assert attention.form["nombre"] == "Emily Johnson"
    assert (await customer_of(service, attention.id)).name == "Emily Johnson"  # what she told the bot beats the profile
    assert hand_over_texts(messages) == [handoff_message(service, "ventas", "en")]
    assert messages[0]["handoff_message"].startswith("Great!")
    assert events[-1] == ConversationPaused()


async def test_an_instagram_refund_complaint_goes_to_support_not_sales(service: ConnectorServer) -> None:
    """Issue 13: routing looked only at the intent that opened the form ("sí" = affirm), so
    every Instagram customer got the sales form. Now what the customer asked decides."""
    b = ConversationBuilder(sender_id=IGSID, channel="instagram", account_id=IG_ACCOUNT_ID)
    b.session_start()
    b.user("me cobraron dos veces, quiero un reembolso", "request_refund", slots={"language": "es"})
    b.bot("utter_refund_offer_human", "Lamento el problema. ¿Quieres que te comunique con una persona?", OFFER_BUTTONS)
    b.user("sí", "affirm")
    b.handoff_form(name="Lucía Gómez", reason="mi pedido 48213 me lo cobraron dos veces")

    await run(ActionHandoff(), b.tracker())

    attention = await active(service, "instagram", IG_ACCOUNT_ID, IGSID)
    assert attention is not None and attention.campaign_id == "soporte"
    assert attention.intent == "affirm"  # the opener is still recorded, it just does not decide
    queued_event = next(event for event in await trail(service, attention.id) if event.action == "queued")
    assert queued_event.detail["routing_rule"] == 1  # `asked: request_refund`
    assert attention.form["numero_pedido"] == "45678"  # the bot's slot, as the form's builder set it


async def test_the_context_carries_each_customer_lines_entities(service: ConnectorServer) -> None:
    b = ConversationBuilder()
    b.session_start()
    b.user(
        "mi pedido 48213 no llegó, ya pasaron 10 días",
        "ask_order_status",
        entities=[
            {"entity": "order_number", "value": "48213", "start": 10, "end": 15, "extractor": "OrderNumberExtractor"},
            {"entity": "language", "value": "es", "start": 0, "end": 2, "extractor": "LanguageDetector"},
        ],
        slots={"order_number": "48213", "language": "es"},
    )
    b.user("agente", "request_human")
    first, second = conversation_context(session_events(b.tracker()))
    assert first["entities"] == [{"entity": "order_number", "value": "48213"}, {"entity": "language", "value": "es"}]
    assert "entities" not in second  # none found: no key


async def test_customer_name_falls_back_to_the_profile(service: ConnectorServer) -> None:
    picture = "https://scontent.example/v/carlos.jpg?oe=7FFFFFFF"
    b = ConversationBuilder(profile_name="Carlos Ruiz", profile_picture=picture)
    b.session_start()
    b.user("agente", "request_human", slots={"language": "es"})
    b.action("handoff_form").loop("handoff_form")
    b.slot("customer_name", None)
    await run(ActionHandoff(), b.tracker())
    attention = await active(service)
    assert attention is not None
    customer = await customer_of(service, attention.id)
    assert (customer.name, customer.picture_url) == ("Carlos Ruiz", picture)  # the desk's avatar, with its expiry
    assert customer.picture_expires_at is not None
    assert "nombre" not in attention.form  # the profile name is no answer to the form


async def test_repeated_fallback_sends_nlu_fallback_as_the_intent(service: ConnectorServer) -> None:
    b = ConversationBuilder()
    b.session_start()
    b.user("xkcd qwrtz", "nlu_fallback", confidence=0.6)
    b.bot("utter_offer_human", "¿Quieres que te comunique con una persona?", OFFER_BUTTONS)
    b.user("zzkq bfff", "nlu_fallback", confidence=0.6)
    b.handoff_form()
    await run(ActionHandoff(), b.tracker())
    attention = await active(service)
    assert attention is not None and attention.intent == "nlu_fallback"


async def test_context_starts_again_after_an_earlier_attention(service: ConnectorServer) -> None:
    """Same session, a second handoff: the first attention's stretch (the customer's
    messages to the agent, the external intent) is not the bot's part of this one."""
    b = ConversationBuilder()
    b.session_start()
    b.user("quiero hablar con una persona", "request_human", slots={"language": "es"})
    b.handoff_form()
    b.action("action_handoff").slot("attention_id", 1).slot("handoff_reason", None).pause()
    b.user("hola? sigo esperando", "nlu_fallback")  # logged on the paused tracker, read by the agent
    b.resume().external("EXTERNAL_attention_terminated")
    b.bot("utter_attention_ended", "Gracias por escribirnos. 🙌")
    b.bot("utter_ask_satisfaction", "¿Cómo te pareció la atención que recibiste?")
    b.user("otra cosa: quiero cambiar mi dirección", "out_of_scope")
    b.bot("utter_offer_human", "¿Quieres que te comunique con una persona?", OFFER_BUTTONS)
    b.user("sí", "affirm")
    b.handoff_form(name=None, reason="cambiar la dirección de envío")
    tracker = b.tracker()

    await run(ActionHandoff(), tracker)

    attention = await active(service)
    assert attention is not None
    assert [line["text"] for line in attention.context] == [
        "Gracias por escribirnos. 🙌",
        "¿Cómo te pareció la atención que recibiste?",
        "otra cosa: quiero cambiar mi dirección",
        "¿Quieres que te comunique con una persona?",
        "sí",
        "Cuéntame en un mensaje en qué te podemos ayudar.",
        "cambiar la dirección de envío",
    ]
    assert attention.intent == "affirm"
    assert attention.form["motivo"] == "cambiar la dirección de envío"
    assert "attention_id" not in collected_slots(tracker)  # the earlier attention's id is no campaign data


async def test_service_down_says_unavailable_and_does_not_pause(
    service: ConnectorServer, monkeypatch, closed_port_url, caplog
) -> None:
    monkeypatch.setenv(SERVICE_URL_ENV, closed_port_url)
    with caplog.at_level(logging.ERROR, logger="actions.handoff"):
        events, messages = await run(ActionHandoff(), spanish_handoff_conversation().tracker())
    assert events == []
    assert responses(messages) == ["utter_handoff_unavailable"]
    assert "action_handoff" in caplog.text
    assert await all_attentions(service) == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_service_errors_say_unavailable(service: ConnectorServer, proxy: FaultyProxy, status: int) -> None:
    proxy.answer_next(status, method="POST", path="/attentions$", times=3)  # a 503 is asked again twice
    events, messages = await run(ActionHandoff(), spanish_handoff_conversation().tracker())
    assert events == []
    assert responses(messages) == ["utter_handoff_unavailable"]
    assert await all_attentions(service) == []


async def test_wrong_token_says_unavailable(service: ConnectorServer, monkeypatch, caplog) -> None:
    monkeypatch.setenv(SERVICE_TOKEN_ENV, "not-the-token")
    with caplog.at_level(logging.ERROR, logger="actions.handoff"):
        events, messages = await run(ActionHandoff(), spanish_handoff_conversation().tracker())
    assert events == [] and responses(messages) == ["utter_handoff_unavailable"]
    assert "401" in caplog.text
    assert await all_attentions(service) == []


async def test_missing_token_fails_cleanly_without_calling(
    service: ConnectorServer, proxy: FaultyProxy, monkeypatch, caplog
) -> None:
    monkeypatch.delenv(SERVICE_TOKEN_ENV)
    with caplog.at_level(logging.ERROR, logger="actions.handoff"):
        events, messages = await run(ActionHandoff(), spanish_handoff_conversation().tracker())
    assert events == [] and responses(messages) == ["utter_handoff_unavailable"]
    assert SERVICE_TOKEN_ENV in caplog.text
    assert proxy.requests == []
    assert await all_attentions(service) == []


async def test_conversation_without_channel_metadata_cannot_be_handed_over(service: ConnectorServer, proxy: FaultyProxy) -> None:
    """E.g. `rasa shell`: no channel account to queue the attention for."""
    b = ConversationBuilder(channel="cmdline")
    b.session_start()
    b.user("agente", "request_human", metadata={})
    b.handoff_form()
    events, messages = await run(ActionHandoff(), b.tracker())
    assert events == [] and responses(messages) == ["utter_handoff_unavailable"]
    assert proxy.requests == []
    assert await all_attentions(service) == []


async def test_channel_falls_back_to_the_input_channel_and_older_metadata(service: ConnectorServer) -> None:
    b = ConversationBuilder()
    b.session_start()
    b.user("quiero hablar con una persona", "request_human", slots={"language": "es"})
    b.action("handoff_form").loop("handoff_form").slot("requested_slot", "handoff_reason")
    b.user("necesito una factura", "nlu_fallback", metadata={})  # this one came without metadata
    b.action("handoff_form").slot("handoff_reason", "necesito una factura").loop(None)
    await run(ActionHandoff(), b.tracker())
    [attention] = await all_attentions(service)
    assert (attention.channel, attention.account_id, attention.customer_id) == (Channel.MESSENGER, PAGE_ID, PSID)


# -- action_record_form_fields -----------------------------------------------------------


def _later_slots_tracker(**slots: Any) -> Tracker:
    """The customer, already handed over, gave more data the bot put in slots."""
    b = ConversationBuilder()
    b.session_start()
    b.user("mi pedido es 45678", "inform_order_number", slots={"language": "es"})
    for name, value in slots.items():
        b.slot(name, value)
    return b.tracker(extra_slots=[name for name in slots if name not in DOMAIN_DICT["slots"]])


async def test_record_form_fields_hands_the_slots_to_the_service(service: ConnectorServer) -> None:
    """The service maps slots to fields by the campaign's prefill_from_slot: slots no field
    names are ignored, slots the form does not know are no error."""
    attention = await queued(service, slots={"handoff_reason": "antes", "order_number": "111"})
    tracker = _later_slots_tracker(order_number="45678", handoff_reason="ahora sí", customer_name="Ana", color_favorito="azul")
    events, messages = await run(ActionRecordFormFields(), tracker)

    assert events == [] and messages == []
    after = await core(service).attentions.get(attention.id)
    assert after.form == {"nombre": "Ana", "motivo": "ahora sí", "numero_pedido": "45678"}
    saves = [event for event in await trail(service, attention.id) if event.action == "form_saved"]
    assert [(event.actor.kind, event.detail["fields"]) for event in saves] == [
        (ActorKind.BOT, ["motivo", "nombre", "numero_pedido"])
    ]


async def test_record_form_fields_fills_an_open_attention_too(service: ConnectorServer) -> None:
    attention, agent = await opened_by_an_agent(service, await queued(service))
    await run(ActionRecordFormFields(), _later_slots_tracker(order_number="45678"))
    after = await core(service).attentions.get(attention.id)
    assert after.form == {"numero_pedido": "45678"}
    assert after.state is AttentionState.OPEN and after.agent_id == agent.id


async def test_record_form_fields_without_active_attention_does_nothing(service: ConnectorServer, proxy: FaultyProxy) -> None:
    events, messages = await run(ActionRecordFormFields(), spanish_handoff_conversation().tracker())
    assert events == [] and messages == []
    assert [path for _, path in proxy.requests] == ["/webhooks/desk/service/attentions/active"]
    assert await all_attentions(service) == []


async def test_record_form_fields_with_nothing_to_record_does_not_post(service: ConnectorServer, proxy: FaultyProxy) -> None:
    """Only the language (never campaign data): nothing to send."""
    await queued(service)
    await run(ActionRecordFormFields(), _later_slots_tracker())
    assert [method for method, _ in proxy.requests] == ["GET"]


async def test_record_form_fields_with_no_field_for_the_slots_changes_nothing(service: ConnectorServer) -> None:
    attention = await queued(service, slots={"handoff_reason": "antes"})
    await run(ActionRecordFormFields(), _later_slots_tracker(attachment_type="image"))
    after = await core(service).attentions.get(attention.id)
    assert after.form == {"motivo": "antes"}
    assert actions_of(await trail(service, attention.id)) == [(ActorKind.BOT, "queued")]


async def test_record_form_fields_keeps_what_the_form_accepts(service: ConnectorServer) -> None:
    """A slot value the field does not accept (an order number over 20 characters) is left
    out for the agent to fill; the other values are recorded."""
    attention = await queued(service, slots={"order_number": "111"})
    await run(ActionRecordFormFields(), _later_slots_tracker(order_number="4" * 30, customer_name="Ana"))
    assert (await core(service).attentions.get(attention.id)).form == {"nombre": "Ana", "numero_pedido": "111"}


async def test_record_form_fields_gives_up_on_a_rejection(service: ConnectorServer, proxy: FaultyProxy, caplog) -> None:
    attention = await queued(service, slots={"handoff_reason": "x"})
    proxy.answer_next(
        422, {"error": "field 'motivo': is required", "fields": {"motivo": "is required"}}, method="POST", path=FORM_PATH
    )
    with caplog.at_level(logging.WARNING, logger="actions.handoff"):
        events, messages = await run(ActionRecordFormFields(), _later_slots_tracker(handoff_reason="y"))
    assert events == [] and messages == []
    assert "rejected" in caplog.text and "motivo" in caplog.text
    assert [method for method, _ in proxy.requests] == ["GET", "POST"]  # no second try
    assert (await core(service).attentions.get(attention.id)).form == {"motivo": "x"}


@pytest.mark.parametrize("status", [404, 409, 503])
async def test_record_form_fields_says_nothing_when_the_save_fails(
    service: ConnectorServer, proxy: FaultyProxy, status: int
) -> None:
    """The attention ended between our look and our write (404, 409), or the service broke."""
    attention = await queued(service)
    proxy.answer_next(status, method="POST", path=FORM_PATH, times=3)
    events, messages = await run(ActionRecordFormFields(), _later_slots_tracker(order_number="45678"))
    assert events == [] and messages == []
    assert (await core(service).attentions.get(attention.id)).form == {}


# -- action_terminate_attention ----------------------------------------------------------


def _cancelling_tracker() -> Tracker:
    b = ConversationBuilder()
    b.session_start()
    b.user("ya no quiero esperar", "cancel_handoff", slots={"language": "es"})
    return b.tracker()


def _queued_customer_cancels() -> Tracker:
    """Handed over, waiting; the connectors resume the conversation for the cancel button."""
    b = ConversationBuilder()
    b.session_start()
    b.user("quiero hablar con una persona", "request_human", slots={"language": "es"})
    b.handoff_form()
    b.action("action_handoff").slot("attention_id", 1).pause()
    b.user("hola? sigo esperando", "nlu_fallback")  # logged on the paused tracker
    b.resume()
    b.user("/cancel_handoff", "cancel_handoff", confidence=1.0)
    return b.tracker()


async def test_terminate_ends_the_queued_attention(service: ConnectorServer) -> None:
    attention = await queued(service)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert responses(messages) == ["utter_handoff_cancelled"]
    assert events == [SlotSet("attention_id", None)]
    assert await active(service) is None
    after = await core(service).attentions.get(attention.id)
    assert after.state is AttentionState.TERMINATED and after.terminated_at is not None
    ended = (await trail(service, attention.id))[-1]
    assert (ended.actor.kind, ended.action, ended.to_state) == (ActorKind.BOT, "terminate", AttentionState.TERMINATED)
    assert ended.detail == {"by": "bot", "reason": "customer_cancelled"}


async def test_terminate_without_active_attention(service: ConnectorServer, proxy: FaultyProxy) -> None:
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_no_active_attention"]
    assert [method for method, _ in proxy.requests] == ["GET"]


async def test_terminate_an_attention_that_ended_meanwhile(service: ConnectorServer, proxy: FaultyProxy) -> None:
    """The agent ends it between our GET and our POST: the service answers 409."""
    await queued(service)
    proxy.answer_next(409, method="POST", path=TERMINATE_PATH)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_no_active_attention"]
    assert [method for method, _ in proxy.requests] == ["GET", "POST"]


async def test_terminate_an_attention_that_is_over_already(service: ConnectorServer) -> None:
    """The customer taps "stop waiting" twice: the second tap finds nothing to end."""
    attention = await queued(service)
    await run(ActionTerminateAttention(), _cancelling_tracker())
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_no_active_attention"]
    assert (await core(service).attentions.get(attention.id)).state is AttentionState.TERMINATED


async def test_terminate_an_attention_an_agent_has_open(service: ConnectorServer) -> None:
    """An agent opened it just before the tap: the agent keeps the conversation."""
    attention, agent = await opened_by_an_agent(service, await queued(service))
    events, messages = await run(ActionTerminateAttention(), _queued_customer_cancels())
    assert responses(messages) == ["utter_attention_with_agent"]
    assert events == [ConversationPaused()]
    after = await core(service).attentions.get(attention.id)
    assert after.state is AttentionState.OPEN and after.agent_id == agent.id
    assert actions_of(await trail(service, attention.id)) == [(ActorKind.BOT, "queued"), (ActorKind.AGENT, "open")]


async def test_a_queued_customer_taps_stop_waiting(service: ConnectorServer) -> None:
    attention = await queued(service)
    events, messages = await run(ActionTerminateAttention(), _queued_customer_cancels())
    assert responses(messages) == ["utter_handoff_cancelled"]
    assert events == [SlotSet("attention_id", None)]
    assert (await core(service).attentions.get(attention.id)).state is AttentionState.TERMINATED


async def test_terminate_with_the_service_down(service: ConnectorServer, monkeypatch, closed_port_url) -> None:
    monkeypatch.setenv(SERVICE_URL_ENV, closed_port_url)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_handoff_cancel_failed"]


async def test_terminate_with_the_service_down_keeps_a_queued_customer_waiting(
    service: ConnectorServer, monkeypatch, closed_port_url
) -> None:
    attention = await queued(service)
    monkeypatch.setenv(SERVICE_URL_ENV, closed_port_url)
    events, messages = await run(ActionTerminateAttention(), _queued_customer_cancels())
    assert responses(messages) == ["utter_handoff_cancel_failed"]
    assert events == [ConversationPaused()]
    assert (await core(service).attentions.get(attention.id)).state is AttentionState.QUEUED


async def test_terminate_failing_after_finding_the_attention_pauses_again(service: ConnectorServer, proxy: FaultyProxy) -> None:
    attention = await queued(service)
    proxy.answer_next(503, method="POST", path=TERMINATE_PATH, times=3)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert responses(messages) == ["utter_handoff_cancel_failed"]
    assert events == [ConversationPaused()]
    assert (await core(service).attentions.get(attention.id)).state is AttentionState.QUEUED


async def test_terminate_failing_before_finding_the_attention_does_not_pause(
    service: ConnectorServer, proxy: FaultyProxy
) -> None:
    """Not resumed for this message (no attention known): the bot stays in charge."""
    await queued(service)
    proxy.answer_next(503, method="GET", path=ACTIVE_PATH, times=3)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_handoff_cancel_failed"]


async def test_terminate_without_token(service: ConnectorServer, proxy: FaultyProxy, monkeypatch) -> None:
    attention = await queued(service)
    monkeypatch.delenv(SERVICE_TOKEN_ENV)
    events, messages = await run(ActionTerminateAttention(), _cancelling_tracker())
    assert events == [] and responses(messages) == ["utter_handoff_cancel_failed"]
    assert proxy.requests == []
    assert (await core(service).attentions.get(attention.id)).state is AttentionState.QUEUED


# -- validate_handoff_form ---------------------------------------------------------------


def _form_tracker(slot: str, value: Any) -> Tracker:
    b = ConversationBuilder()
    b.session_start()
    b.user("quiero hablar con una persona", "request_human", slots={"language": "es"})
    b.action("handoff_form").loop("handoff_form").slot("requested_slot", slot)
    b.user(str(value), "nlu_fallback")
    b.action("handoff_form").slot(slot, value)  # the candidate the form extracted
    return b.tracker()


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("María Pérez", "María Pérez"),
        ("me llamo Carlos", "Carlos"),
        ("  mi nombre es   Ana  López. ", "Ana López"),
        ("My name is Emily", "Emily"),
        ("I'm John Smith", "John Smith"),
        ("Soy José", "José"),
    ],
)
async def test_validate_keeps_a_name(typed: str, kept: str) -> None:
    events, messages = await run(ValidateHandoffForm(), _form_tracker("customer_name", typed))
    assert SlotSet("customer_name", kept) in events
    assert messages == []


@pytest.mark.parametrize("typed", ["x", "   ", "/deny", "12345", "a" * 101, "!!!"])
async def test_validate_rejects_what_is_not_a_name(typed: str) -> None:
    events, messages = await run(ValidateHandoffForm(), _form_tracker("customer_name", typed))
    assert SlotSet("customer_name", None) in events
    assert responses(messages) == ["utter_invalid_customer_name"]


async def test_validate_reason() -> None:
    events, _ = await run(ValidateHandoffForm(), _form_tracker("handoff_reason", "  mi pedido no llegó  "))
    assert SlotSet("handoff_reason", "mi pedido no llegó") in events
    assert clean_handoff_reason("x" * 1500) == "x" * 1000
    assert clean_handoff_reason('/receive_attachment{"attachment_type": "image"}') is None
    assert clean_customer_name(None) is None


# -- reading the tracker -----------------------------------------------------------------


def test_session_events_start_after_the_latest_session_start() -> None:
    tracker = spanish_handoff_conversation().tracker()
    texts = [e.get("text") for e in session_events(tracker) if e.get("event") == "user"]
    assert texts[0] == "hola" and "hola, mi pedido no llegó ayer" not in texts


def test_handoff_intent_without_the_form_is_the_latest_customer_intent() -> None:
    b = ConversationBuilder()
    b.session_start()
    b.user("hola", "greet")
    b.user("agente", "request_human")
    assert handoff_intent(session_events(b.tracker())) == "request_human"
    assert handoff_intent([]) is None


def test_a_payload_without_a_matching_button_has_no_text() -> None:
    b = ConversationBuilder()
    b.session_start()
    b.user("/get_started", "get_started")
    [line] = conversation_context(session_events(b.tracker()))
    assert line["text"] is None and line["intent"] == "get_started"
