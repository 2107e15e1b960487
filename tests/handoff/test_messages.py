"""Customer events into attentions (the hot path), agent messages through the gateway with
Meta's windows, and statuses coming back."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from connectors.storage.schema import message as message_table
from handoff.errors import Conflict, Forbidden, InvalidMessage, WindowClosed
from handoff.model import Attention, Author, InboundEvent, MessageDirection, MessageKind, MessageStatus, Role
from handoff.ports import DeliveryFailed, OutgoingAttachment
from handoff.states import AttentionState
from handoff.window import HUMAN_AGENT, MESSAGE_TAG, RESPONSE
from tests.handoff.support import IG_ACCOUNT, PAGE, START, handoff, opened


def text(body: str, mid: str = "m_1", **extra) -> InboundEvent:
    return InboundEvent(kind=MessageKind.TEXT, text=body, mid=mid, **extra)


async def count_messages(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(sa.select(sa.func.count()).select_from(message_table))).scalar_one()


async def test_without_an_active_attention_the_bot_answers(service, engine):
    assert await service.inbound.record_customer_event("messenger", PAGE, "psid_1", text("hola")) is None
    assert await count_messages(engine) == 0


async def test_customer_messages_go_to_the_active_attention(service, clock):
    attention = await handoff(service)
    clock.advance(minutes=5)
    recorded = await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_1", text("¿hay alguien?", sent_at=START + timedelta(minutes=4, seconds=59))
    )
    stored = recorded.message
    assert stored.attention_id == attention.id
    assert (recorded.attention.id, recorded.attention.state) == (attention.id, AttentionState.QUEUED)
    assert (stored.direction, stored.author, stored.kind, stored.status) == (
        MessageDirection.IN,
        Author.CUSTOMER,
        MessageKind.TEXT,
        MessageStatus.RECEIVED,
    )
    assert stored.mid == "m_1" and stored.sent_at == START + timedelta(minutes=4, seconds=59)
    after = await service.attentions.get(attention.id)
    assert after.last_customer_message_at == START + timedelta(minutes=4, seconds=59)
    assert after.last_message_id == stored.id


@pytest.mark.parametrize(
    ("kind", "author", "opens"),
    [
        (MessageKind.REACTION, Author.CUSTOMER, True),
        (MessageKind.POSTBACK, Author.CUSTOMER, True),
        (MessageKind.REFERRAL, Author.CUSTOMER, True),
        (MessageKind.ATTACHMENT, Author.CUSTOMER, True),
        (MessageKind.DELETED, Author.CUSTOMER, False),
        (MessageKind.TEXT, Author.EXTERNAL, False),
    ],
)
async def test_what_opens_the_24h_window(service, clock, kind, author, opens):
    attention = await handoff(service)
    clock.advance(hours=3)
    await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_1", InboundEvent(kind=kind, author=author, payload={"emoji": "❤"})
    )
    after = await service.attentions.get(attention.id)
    assert (after.last_customer_message_at == clock.now) is opens


async def test_an_out_of_order_event_does_not_move_the_window_back(service, clock):
    attention = await handoff(service)
    clock.advance(hours=2)
    await service.inbound.record_customer_event(
        "messenger", PAGE, "psid_1", text("tarde", "m_2", sent_at=START - timedelta(hours=1))
    )
    assert (await service.attentions.get(attention.id)).last_customer_message_at == START


async def test_inside_24h_the_agent_sends_a_response(service, agent, gateway, clock):
    attention = await opened(service, agent)
    clock.advance(hours=23)
    sent = await service.outbox.send_agent_message(attention.id, agent, "Hola Carla, te ayudo")
    assert (sent.status, sent.mid, sent.messaging_type, sent.tag) == (MessageStatus.SENT, f"m_out_{sent.id}", RESPONSE, None)
    assert sent.sent_at == clock.now and sent.author is Author.AGENT and sent.agent_id == agent.id
    [outbound] = gateway.sent
    assert (outbound.message_id, outbound.customer_id, outbound.account_id, outbound.messaging_type, outbound.text) == (
        sent.id,
        "psid_1",
        PAGE,
        RESPONSE,
        "Hola Carla, te ayudo",
    )


async def test_after_24h_with_human_agent_allowed_the_tag_is_used(service, agent, gateway, clock):
    attention = await opened(service, agent)  # soporte allows HUMAN_AGENT
    clock.advance(hours=30)
    sent = await service.outbox.send_agent_message(attention.id, agent, "¿Seguís ahí?")
    assert (sent.status, sent.messaging_type, sent.tag) == (MessageStatus.SENT, MESSAGE_TAG, HUMAN_AGENT)
    assert (gateway.sent[0].messaging_type, gateway.sent[0].tag) == (MESSAGE_TAG, HUMAN_AGENT)


async def test_after_24h_without_human_agent_nothing_is_stored_or_sent(service, gateway, clock, engine):
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    attention = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1")
    await service.attentions.open(attention.id, seller)
    clock.advance(hours=30)
    with pytest.raises(WindowClosed) as raised:
        await service.outbox.send_agent_message(attention.id, seller, "hola")
    assert raised.value.attention_id == attention.id
    assert gateway.sent == [] and await count_messages(engine) == 0


async def test_after_7_days_nothing_goes_even_with_human_agent(service, agent, gateway, clock, engine):
    attention = await opened(service, agent)
    clock.advance(days=8)
    with pytest.raises(WindowClosed):
        await service.outbox.send_agent_message(attention.id, agent, "hola")
    assert gateway.sent == [] and await count_messages(engine) == 0


async def test_a_customer_message_reopens_the_window(service, agent, clock):
    attention = await opened(service, agent)
    clock.advance(days=8)
    await service.inbound.record_customer_event("messenger", PAGE, "psid_1", text("hola de nuevo", sent_at=clock.now))
    assert (await service.outbox.send_agent_message(attention.id, agent, "¡Hola!")).messaging_type == RESPONSE


async def test_a_refused_send_is_a_failed_message_with_metas_error(service, agent, gateway):
    attention = await opened(service, agent)
    gateway.fail_with = DeliveryFailed(551, 1545041, "This person isn't available right now.")
    failed = await service.outbox.send_agent_message(attention.id, agent, "hola")
    assert (failed.status, failed.error_code, failed.error_subcode, failed.error_message) == (
        MessageStatus.FAILED,
        551,
        1545041,
        "This person isn't available right now.",
    )
    gateway.fail_with = None
    retried = await service.outbox.retry(failed.id, agent)
    assert (retried.id, retried.status, retried.error_code) == (failed.id, MessageStatus.SENT, None)
    assert len(gateway.sent) == 2
    with pytest.raises(InvalidMessage):
        await service.outbox.retry(failed.id, agent)


async def test_a_crashing_gateway_leaves_a_failed_message_not_a_pending_one(service, agent, gateway):
    attention = await opened(service, agent)

    async def crash(outbound):
        raise ConnectionResetError("peer went away")

    gateway.send = crash
    failed = await service.outbox.send_agent_message(attention.id, agent, "hola")
    assert failed.status is MessageStatus.FAILED and "peer went away" in failed.error_message


async def test_who_may_send_what(service, agent, other_agent, engine):
    queued = await handoff(service)
    with pytest.raises(Forbidden):
        await service.outbox.send_agent_message(queued.id, agent, "hola")
    attention = await service.attentions.open(queued.id, agent)
    with pytest.raises(Forbidden):
        await service.outbox.send_agent_message(attention.id, other_agent, "hola")
    with pytest.raises(InvalidMessage):
        await service.outbox.send_agent_message(attention.id, agent, "   ")
    with pytest.raises(InvalidMessage):
        await service.outbox.send_agent_message(attention.id, agent, "x" * 2001)
    with pytest.raises(InvalidMessage):
        await service.outbox.send_agent_message(attention.id, agent, attachment=OutgoingAttachment("gif", "https://x/y.gif"))
    await service.attentions.terminate(attention.id, agent, {"motivo": "x", "resultado": "resuelto"})
    with pytest.raises(Conflict):
        await service.outbox.send_agent_message(attention.id, agent, "hola")
    assert await count_messages(engine) == 0


async def test_instagram_text_limit_is_in_bytes(service, gateway):
    seller = await service.agents.add("vale", "Vale", Role.AGENT, ["ventas"])
    attention = await service.inbound.request_handoff("instagram", IG_ACCOUNT, "igsid_1")
    await service.attentions.open(attention.id, seller)
    with pytest.raises(InvalidMessage):
        await service.outbox.send_agent_message(attention.id, seller, "ñ" * 501)
    sent = await service.outbox.send_agent_message(attention.id, seller, "ñ" * 500)
    assert sent.status is MessageStatus.SENT


async def test_attachments_are_sent_by_url(service, agent, gateway):
    attention = await opened(service, agent)
    sent = await service.outbox.send_agent_message(
        attention.id, agent, attachment=OutgoingAttachment("image", "https://cdn/x.png")
    )
    assert sent.kind is MessageKind.ATTACHMENT and sent.payload["attachment"]["url"] == "https://cdn/x.png"
    assert gateway.sent[0].attachment == OutgoingAttachment("image", "https://cdn/x.png")


async def test_statuses_move_forward_by_mid_and_by_watermark(service, agent, clock):
    attention = await opened(service, agent)
    first = await service.outbox.send_agent_message(attention.id, agent, "uno")
    clock.advance(minutes=1)
    second = await service.outbox.send_agent_message(attention.id, agent, "dos")
    clock.advance(minutes=1)
    delivered = await service.receipts.record_status("messenger", "delivered", mids=[first.mid])
    assert [(m.id, m.status) for m in delivered] == [(first.id, MessageStatus.DELIVERED)]
    assert delivered[0].delivered_at == clock.now
    read = await service.receipts.record_status(
        "messenger", MessageStatus.READ, account_id=PAGE, customer_id="psid_1", watermark=clock.now
    )
    assert {(m.id, m.status) for m in read} == {(first.id, MessageStatus.READ), (second.id, MessageStatus.READ)}
    # A late delivery never undoes a read; other customers' messages are untouched.
    assert await service.receipts.record_status("messenger", "delivered", mids=[first.mid, second.mid]) == []
    no_one = await service.receipts.record_status("messenger", "read", account_id=PAGE, customer_id="psid_9", watermark=clock.now)
    assert no_one == []
    detail = await service.queries.detail(attention.id)
    assert [m.status for m in detail.messages] == [MessageStatus.READ, MessageStatus.READ]
    assert detail.messages[0].delivered_at is not None  # reading implies delivery


async def test_an_echo_before_the_send_returns_marks_it_sent(service, agent, gateway):
    attention = await opened(service, agent)
    original = gateway.send

    async def echo_first(outbound):
        await service.receipts.record_echo("messenger", f"m_out_{outbound.message_id}", outbound.message_id)
        return await original(outbound)

    gateway.send = echo_first
    sent = await service.outbox.send_agent_message(attention.id, agent, "hola")
    assert sent.status is MessageStatus.SENT and sent.mid == f"m_out_{sent.id}"
    await service.receipts.record_status("messenger", "read", mids=[sent.mid])
    assert (await service.receipts.record_echo("messenger", sent.mid, sent.id)).status is MessageStatus.READ


async def test_a_message_racing_a_transfer_is_heard_by_the_new_owner(service, agent, other_agent, monkeypatch):
    """The transfer commits between the inbound lookup and its write: the live event must
    name the agent who holds the attention when the message is stored."""
    from handoff.events import HandoffEvent, MessageAdded

    attention = await opened(service, agent)
    from connectors.storage.attentions import AttentionRows

    lookup = AttentionRows.active_ref
    raced: list[Attention] = []

    async def lookup_then_transfer(rows, *args):
        ref = await lookup(rows, *args)
        if not raced:
            raced.append(await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id))
        return ref

    monkeypatch.setattr(AttentionRows, "active_ref", lookup_then_transfer)

    def customer_said(event: HandoffEvent) -> bool:
        return isinstance(event, MessageAdded) and event.message.author.value == "customer"

    async with service.bus.subscribe(customer_said) as heard:
        stored = await service.inbound.record_customer_event("messenger", PAGE, "psid_1", text("¿sigues ahí?", mid="m_race"))
        [event] = heard.pending()
    assert raced and stored.message.attention_id == attention.id
    # The owner as the message's write left it, told to the router too, not only to the live event.
    assert event.agent_id == other_agent.id == stored.attention.agent_id


async def test_on_a_sqlite_without_returning_a_message_is_stored_and_owned_the_same(
    service, agent, other_agent, engine, monkeypatch
):
    """SQLite before 3.35 (an old system's library) runs no ``UPDATE … RETURNING``: the same
    update, then the attention read in its transaction, with the same outcome."""
    import sqlite3

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always runs RETURNING; only SQLite's library can be too old")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    attention = await opened(service, agent)
    await service.attentions.transfer_to_agent(attention.id, agent, other_agent.id)
    recorded = await service.inbound.record_customer_event("messenger", PAGE, "psid_1", text("hola", sent_at=START))
    assert (recorded.attention.agent_id, recorded.attention.state) == (other_agent.id, AttentionState.OPEN)
    after = await service.attentions.get(attention.id)
    assert after.last_message_id == recorded.message.id and after.last_customer_message_at == START
    await service.attentions.terminate(attention.id, other_agent, {"motivo": "x", "resultado": "resuelto"})
    assert await service.inbound.record_customer_event("messenger", PAGE, "psid_1", text("otra", mid="m_2")) is None
