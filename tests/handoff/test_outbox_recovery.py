"""Agent messages a dead process left ``pending`` (the outbox). What the sweep does depends
on how far the send got (``HandoffService._send_and_record`` commits the attempt's key
before the Send API call and Meta's mid after it): a message never handed to Meta is sent
again once, or failed with the reason; one that Meta may have is never sent again by the
sweep: its echo makes it sent, and without one it is ``unknown``. A crash is played by
cancelling the send at the point a SIGKILL would hit: what is left in the database is
exactly what the kill leaves there (the reliability suite kills a real server)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from datetime import timedelta

from connectors.storage.records import SqlStorage
from handoff.events import MessageAdded, MessageUpdated
from handoff.model import Message, MessageStatus
from handoff.service import HandoffService
from handoff.services.outbox import DEFAULT_OUTBOX_STALE_AFTER
from handoff.window import HUMAN_AGENT, MESSAGE_TAG, RESPONSE
from tests.handoff.support import opened

STALE = DEFAULT_OUTBOX_STALE_AFTER + timedelta(seconds=1)


async def left_pending(
    service: HandoffService, gateway, attention_id: int, agent, text: str = "Hola, ya lo reviso", *, handed: bool = False
) -> Message:
    """Store an agent message and die: ``handed=False`` right after it was stored (before
    its send was recorded: Meta never had it), ``handed=True`` while the gateway is
    sending it (Meta may have it)."""
    reached = asyncio.Event()

    async def stuck(outbound):
        reached.set()
        await asyncio.Event().wait()

    gateway.send = stuck
    sending = asyncio.create_task(service.outbox.send_agent_message(attention_id, agent, text))
    if not handed:

        def die_once_stored(event) -> bool:
            if isinstance(event, MessageAdded) and event.message.text == text:
                sending.cancel()  # lands on the next await: before the send is recorded
                reached.set()
            return False

        subscription = service.bus.subscribe(die_once_stored)
    try:
        await asyncio.wait_for(reached.wait(), 10)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        del gateway.send  # the recording one again
        if not handed:
            subscription.close()
    [pending] = [m for m in (await service.queries.detail(attention_id)).messages if m.text == text]
    assert pending.status is MessageStatus.PENDING
    assert gateway.sent == []
    return pending


def updates(service: HandoffService) -> list[Message]:
    seen: list[Message] = []

    def keep(event) -> bool:
        if isinstance(event, MessageUpdated):
            seen.append(event.message)
        return False

    service.bus.subscribe(keep)
    return seen


async def stored(service: HandoffService, message: Message) -> Message:
    [found] = [m for m in (await service.queries.detail(message.attention_id)).messages if m.id == message.id]
    return found


async def test_a_stale_pending_message_is_sent_again_once_with_its_id(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    published = updates(service)
    clock.advance(seconds=STALE.total_seconds())

    [recovered] = await service.outbox.recover()
    assert (recovered.id, recovered.status, recovered.mid) == (pending.id, MessageStatus.SENT, f"m_out_{pending.id}")
    assert recovered.error_message is None
    [outbound] = gateway.sent
    assert (outbound.message_id, outbound.text, outbound.customer_id) == (pending.id, "Hola, ya lo reviso", "psid_1")
    assert [m.status for m in published] == [MessageStatus.SENT]  # the desk shows it

    clock.advance(seconds=STALE.total_seconds())
    assert await service.outbox.recover() == []
    assert len(gateway.sent) == 1


async def test_a_fresh_pending_message_is_left_to_its_sender(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    clock.advance(seconds=DEFAULT_OUTBOX_STALE_AFTER.total_seconds() - 1)
    assert await service.outbox.recover() == []
    assert gateway.sent == [] and (await stored(service, pending)).status is MessageStatus.PENDING
    clock.advance(seconds=2)
    assert [m.id for m in await service.outbox.recover()] == [pending.id]


async def test_a_message_this_process_is_still_sending_is_never_taken(service, agent, gateway, clock):
    attention = await opened(service, agent)
    release, reached = asyncio.Event(), asyncio.Event()
    real_send = gateway.send

    async def slow(outbound):
        if not reached.is_set():  # only the first send is slow: a second one would return
            reached.set()
            await release.wait()
        return await real_send(outbound)

    gateway.send = slow
    sending = asyncio.create_task(service.outbox.send_agent_message(attention.id, agent, "despacio"))
    await asyncio.wait_for(reached.wait(), 10)
    clock.advance(seconds=10 * STALE.total_seconds())  # Meta is slower than the threshold
    assert await service.outbox.recover() == []
    release.set()
    sent = await sending
    assert sent.status is MessageStatus.SENT and len(gateway.sent) == 1


async def test_an_echo_that_came_in_the_meantime_means_nothing_is_sent_again(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent, handed=True)
    # Meta accepted the send before the crash; its echo (metadata: our id) arrives later.
    await service.receipts.record_echo("messenger", "m_before_the_crash", pending.id)
    clock.advance(seconds=STALE.total_seconds())
    assert await service.outbox.recover() == []
    assert gateway.sent == []
    after = await stored(service, pending)
    assert (after.status, after.mid) == (MessageStatus.SENT, "m_before_the_crash")


async def test_two_sweeps_at_once_send_each_message_once(service, engine, book, agent, gateway, clock):
    pending = []
    for n in range(8):
        attention = await opened(service, agent, customer=f"psid_{n}")
        pending.append(await left_pending(service, gateway, attention.id, agent, f"mensaje {n}"))
    clock.advance(seconds=STALE.total_seconds())
    real_send = gateway.send

    async def takes_a_moment(outbound):
        await asyncio.sleep(0.01)  # both sweeps hold the same candidate list meanwhile
        return await real_send(outbound)

    gateway.send = takes_a_moment
    # Another server process on the same database.
    other = HandoffService(SqlStorage(engine), book, gateway=gateway, clock=clock)
    first, second = await asyncio.gather(service.outbox.recover(), other.outbox.recover())

    sends = collections.Counter(outbound.message_id for outbound in gateway.sent)
    assert sends == {message.id: 1 for message in pending}
    assert sorted(m.id for m in first + second) == sorted(m.id for m in pending)
    assert first and second  # they really ran side by side and split the work
    for message in pending:
        assert (await stored(service, message)).status is MessageStatus.SENT


async def test_the_attention_has_ended_so_it_fails_with_the_reason(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    await service.attentions.terminate(attention.id, agent, {"nombre": "Carla", "motivo": "pedido", "resultado": "resuelto"})
    published = updates(service)
    clock.advance(seconds=STALE.total_seconds())

    [failed] = await service.outbox.recover()
    assert failed.id == pending.id and failed.status is MessageStatus.FAILED
    assert failed.error_message.startswith("interrupted: the server stopped before sending this message")
    assert "Meta never got it" in failed.error_message and "the attention has ended" in failed.error_message
    assert gateway.sent == [] and [m.status for m in published] == [MessageStatus.FAILED]


async def test_after_24_hours_it_goes_again_as_meta_allows_now(service, agent, gateway, clock):
    attention = await opened(service, agent)  # soporte allows the HUMAN_AGENT tag
    pending = await left_pending(service, gateway, attention.id, agent)
    assert pending.messaging_type == RESPONSE
    clock.advance(hours=30)

    [recovered] = await service.outbox.recover()
    assert recovered.status is MessageStatus.SENT
    assert (gateway.sent[0].messaging_type, gateway.sent[0].tag) == (MESSAGE_TAG, HUMAN_AGENT)
    assert (recovered.messaging_type, recovered.tag) == (MESSAGE_TAG, HUMAN_AGENT)


async def test_a_closed_window_fails_with_the_reason(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    clock.advance(days=8)

    [failed] = await service.outbox.recover()
    assert failed.id == pending.id and failed.status is MessageStatus.FAILED
    assert failed.error_message.startswith("interrupted:") and "7 days" in failed.error_message
    assert gateway.sent == []


async def test_a_queued_attention_still_gets_the_message(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    await service.attentions.release(attention.id, agent)  # or returned as an orphan while the server was down
    clock.advance(seconds=STALE.total_seconds())
    [recovered] = await service.outbox.recover()
    assert (recovered.id, recovered.status) == (pending.id, MessageStatus.SENT)


async def test_a_resend_cut_short_while_meta_had_it_is_unknown_not_sent_a_third_time(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent)
    clock.advance(seconds=STALE.total_seconds())
    reached = asyncio.Event()

    async def stuck(outbound):
        reached.set()
        await asyncio.Event().wait()

    gateway.send = stuck  # the resend is cut short too, this time while Meta has it
    sweep = asyncio.create_task(service.outbox.recover())
    await asyncio.wait_for(reached.wait(), 10)
    sweep.cancel()
    await asyncio.gather(sweep, return_exceptions=True)
    del gateway.send
    assert (await stored(service, pending)).status is MessageStatus.PENDING

    clock.advance(seconds=STALE.total_seconds())
    [unknown] = await service.outbox.recover()
    assert unknown.status is MessageStatus.UNKNOWN and "not known whether Meta got it" in unknown.error_message
    assert gateway.sent == []
    # The agent decides: the desk's retry sends it.
    retried = await service.outbox.retry(unknown.id, agent)
    assert retried.status is MessageStatus.SENT and len(gateway.sent) == 1


async def test_a_send_meta_may_have_is_never_sent_again_and_its_late_echo_makes_it_sent(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent, handed=True)
    published = updates(service)
    clock.advance(seconds=STALE.total_seconds())

    [unknown] = await service.outbox.recover()
    assert (unknown.id, unknown.status, unknown.mid) == (pending.id, MessageStatus.UNKNOWN, None)
    assert unknown.error_message.startswith("interrupted: the server stopped while sending this message")
    assert "not known whether Meta got it" in unknown.error_message
    assert gateway.sent == [] and [m.status for m in published] == [MessageStatus.UNKNOWN]
    clock.advance(seconds=STALE.total_seconds())
    assert await service.outbox.recover() == [] and gateway.sent == []

    # Meta's echo comes after all (redelivered once the server is back): sent, never resent.
    echoed = await service.receipts.record_echo("messenger", "m_accepted_before_the_crash", pending.id)
    assert echoed is not None and (echoed.status, echoed.mid, echoed.error_message) == (
        MessageStatus.SENT,
        "m_accepted_before_the_crash",
        None,
    )
    assert [m.status for m in published] == [MessageStatus.UNKNOWN, MessageStatus.SENT]
    assert gateway.sent == []


async def test_a_message_meta_may_have_is_left_alone_until_stale(service, agent, gateway, clock):
    attention = await opened(service, agent)
    pending = await left_pending(service, gateway, attention.id, agent, handed=True)
    clock.advance(seconds=DEFAULT_OUTBOX_STALE_AFTER.total_seconds() - 1)
    assert await service.outbox.recover() == []  # its echo may still be on the way
    assert (await stored(service, pending)).status is MessageStatus.PENDING


@contextlib.contextmanager
def database_locked_at(monkeypatch, step: str):
    """While inside, the outbox's ``step`` write (``mark_sending``: before the Send API call;
    ``mark_sent``: after Meta accepted) finds the database busy; after it, the real one."""
    from sqlalchemy.exc import OperationalError

    from connectors.storage.messages import MessageRows

    async def locked(*args, **kwargs):
        raise OperationalError("UPDATE message", {}, Exception("database is locked"))

    with monkeypatch.context() as patched:
        patched.setattr(MessageRows, step, locked)
        yield


async def test_a_busy_database_after_the_message_is_stored_leaves_it_to_the_sweep_not_an_error(
    service, agent, gateway, clock, monkeypatch
):
    """The desk showed the message the moment it was stored: an error now would tell the
    agent it was not sent (and invite a second copy). It stays pending; the sweep sends it."""
    attention = await opened(service, agent)
    with database_locked_at(monkeypatch, "mark_sending"):
        answered = await service.outbox.send_agent_message(attention.id, agent, "Hola, ya lo reviso")
    assert answered.status is MessageStatus.PENDING and gateway.sent == []
    assert (await stored(service, answered)).status is MessageStatus.PENDING

    clock.advance(seconds=STALE.total_seconds())
    [recovered] = await service.outbox.recover()
    assert (recovered.id, recovered.status) == (answered.id, MessageStatus.SENT)
    assert [outbound.text for outbound in gateway.sent] == ["Hola, ya lo reviso"]  # once


async def test_a_busy_database_after_meta_accepted_waits_for_the_echo_and_never_resends(
    service, agent, gateway, clock, monkeypatch
):
    attention = await opened(service, agent)
    with database_locked_at(monkeypatch, "mark_sent"):
        answered = await service.outbox.send_agent_message(attention.id, agent, "Hola, ya lo reviso")
    assert answered.status is MessageStatus.PENDING and len(gateway.sent) == 1
    assert (await stored(service, answered)).status is MessageStatus.PENDING
    clock.advance(seconds=STALE.total_seconds())
    await service.outbox.recover()
    assert len(gateway.sent) == 1  # handed to Meta: never sent again by the sweep
    assert (await stored(service, answered)).status is MessageStatus.UNKNOWN  # no echo came: Meta may have it, never claimed sent
