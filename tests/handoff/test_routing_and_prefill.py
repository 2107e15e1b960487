"""Issue 13 through the service with the shipped campaigns file: a hand-over is routed by
what the customer asked during the conversation, and its form is pre-filled from what
they said (the context the bot sends: each customer line's intent and entities)."""

from __future__ import annotations

from connectors.storage.records import SqlStorage
from handoff.service import HandoffService


def line(text: str, intent: str, **entities: str) -> dict:
    entry: dict = {"author": "customer", "text": text, "intent": intent, "time": "2026-12-03T10:00:00+00:00"}
    if entities:
        entry["entities"] = [{"entity": name, "value": value} for name, value in entities.items()]
    return entry


def bot(text: str) -> dict:
    return {"author": "bot", "text": text, "time": "2026-12-03T10:00:01+00:00"}


async def queued_detail(service: HandoffService, attention_id: int) -> dict:
    [event] = await service.queries.audit_trail(attention_id)
    return dict(event.detail)


async def test_an_instagram_refund_complaint_goes_to_support(service: HandoffService) -> None:
    context = [
        line("me cobraron dos veces, quiero un reembolso", "request_refund"),
        bot("Lamento el problema... ¿Quieres que te comunique con una persona?"),
        line("sí", "affirm"),
        line("Lucía Gómez", "nlu_fallback"),
        line("quiero mi dinero", "request_refund"),
    ]
    attention = await service.inbound.request_handoff(
        "instagram",
        "ig_1",
        "igsid_1",
        intent="affirm",
        slots={"customer_name": "Lucía Gómez", "handoff_reason": "quiero mi dinero"},
        context=context,
    )
    assert attention.campaign_id == "soporte"  # before: ventas, like every Instagram customer
    assert attention.form["nombre"] == "Lucía Gómez" and "resultado" not in attention.form
    assert await queued_detail(service, attention.id) == {"campaign_id": "soporte", "intent": "affirm", "routing_rule": 1}


async def test_an_instagram_shopper_goes_to_sales(service: HandoffService) -> None:
    context = [
        line("tienen zapatillas talla 42?", "ask_product"),
        bot("¿Te paso con una persona?"),
        line("/request_human", "request_human"),
    ]
    attention = await service.inbound.request_handoff(
        "instagram", "ig_1", "igsid_2", intent="request_human", slots={}, context=context
    )
    assert attention.campaign_id == "ventas"
    assert attention.form == {"origen": "otro"}  # the default; "talla 42" is no order number anywhere
    assert (await queued_detail(service, attention.id))["routing_rule"] == 3


async def test_the_messenger_order_status_rule_fires_and_the_order_number_is_the_named_one(service: HandoffService) -> None:
    """The rule `asked: ask_order_status` decides, though "agente" opened the hand-over;
    the order number is the slot the bot filled with the number that names the order."""
    context = [
        line("mi pedido 48213 no llegó, ya pasaron 10 días", "ask_order_status", order_number="48213"),
        bot("Gracias. Estoy revisando el pedido 48213..."),
        line("agente", "request_human"),
    ]
    attention = await service.inbound.request_handoff(
        "messenger",
        "page_1",
        "psid_9",
        intent="request_human",
        slots={"customer_name": "Carla", "handoff_reason": "no llegó", "order_number": "48213"},
        context=context,
    )
    assert attention.campaign_id == "soporte"
    assert attention.form == {"nombre": "Carla", "motivo": "no llegó", "numero_pedido": "48213"}
    assert await queued_detail(service, attention.id) == {"campaign_id": "soporte", "intent": "request_human", "routing_rule": 2}


async def test_without_a_matching_rule_the_default_says_so(service: HandoffService) -> None:
    context = [line("agente", "request_human")]
    attention = await service.inbound.request_handoff("messenger", "page_1", "psid_3", intent="request_human", context=context)
    assert attention.campaign_id == "soporte"
    assert (await queued_detail(service, attention.id))["routing_rule"] is None


TWO_TEAMS = """
campaigns:
  - id: soporte
    name: Soporte
    channels: [messenger]
    handoff_message: {es: Hola, en: Hello}
    inbound_form:
      - {id: nombre, type: text, prefill: {slot: customer_name}}
  - id: reclamos
    name: Reclamos
    channels: [messenger]
    handoff_message: {es: Hola, en: Hello}
    inbound_form:
      - {id: nombre, type: text, prefill: {slot: customer_name}}
      - {id: pedido, type: text, prefill: {entity: order_number}}
      - {id: talla, type: number, prefill: {pattern: 'talla (\\d+)'}}
routing:
  default: soporte
"""


async def test_a_transfer_prefills_the_new_fields_from_what_the_customer_said(engine, clock) -> None:
    """The same `prefill` rule on a transfer: the target campaign's new fields read the
    bot's values and the customer's lines kept with the attention."""
    from handoff.campaigns import parse_campaigns
    from handoff.model import Role

    service = HandoffService(SqlStorage(engine), parse_campaigns(TWO_TEAMS), clock=clock)
    await service.start()
    agent = await service.agents.add("ana", "Ana", Role.AGENT, ["soporte", "reclamos"])
    context = [line("mi pedido 48213 llegó en talla 42 y pedí la 40", "request_refund", order_number="48213")]
    attention = await service.inbound.request_handoff(
        "messenger", "page_1", "psid_t", intent="request_human", slots={"customer_name": "Ana"}, context=context
    )
    assert attention.form == {"nombre": "Ana"}
    await service.attentions.open(attention.id, agent)
    moved = await service.attentions.transfer_to_campaign(attention.id, agent, "reclamos")
    assert moved.form == {"nombre": "Ana", "pedido": "48213", "talla": 42}
