"""The terminate's pending resume and the durable resumer that works it off, on SQLite and
PostgreSQL: the row is written with the terminate, claimed by one process of several,
marked once, retried with backoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from connectors.resumes import DurableResumer
from connectors.storage.resumes import ResumeRows
from handoff.model import Attention
from tests.handoff.support import opened

DONE_FORM = {"motivo": "Pedido demorado", "resultado": "resuelto"}


class SlowResumer:
    """The bot's turn, taking a while; ``failures`` first attempts raise."""

    def __init__(self, failures: int = 0, seconds: float = 0.05) -> None:
        self.resumed: list[int] = []
        self.failures = failures
        self.seconds = seconds

    async def resume(self, attention: Attention) -> None:
        await asyncio.sleep(self.seconds)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Rasa is restarting")
        self.resumed.append(attention.id)


async def row_of(engine, attention_id: int):
    async with engine.connect() as connection:
        return await ResumeRows(connection).state_of(attention_id)


async def test_the_terminate_writes_the_pending_resume_with_the_state_change(engine, service, agent, resumer):
    attention = await opened(service, agent)
    await service.attentions.terminate(attention.id, agent, DONE_FORM)
    row = await row_of(engine, attention.id)
    assert row is not None and row.resumed_at is None and row.attempts == 0
    assert (row.channel, row.customer_id) == ("messenger", attention.customer_id)


async def test_of_two_processes_sweeping_at_once_one_resumes_and_never_again(engine, service, agent, clock):
    attention = await opened(service, agent)
    await service.attentions.terminate(attention.id, agent, DONE_FORM)
    bot = SlowResumer()
    first, second = (DurableResumer(engine, bot, clock=clock) for _ in range(2))

    swept = await asyncio.gather(first.recover(), second.recover())

    assert sorted(len(resumed) for resumed in swept) == [0, 1]
    assert bot.resumed == [attention.id]
    row = await row_of(engine, attention.id)
    assert row.resumed_at is not None and row.attempts == 1
    clock.advance(hours=1)
    assert await first.recover() == [] and await second.resume_now(attention.id) is False
    assert bot.resumed == [attention.id]


async def test_a_failed_resume_waits_out_its_backoff_then_resumes(engine, service, agent, clock):
    attention = await opened(service, agent)
    await service.attentions.terminate(attention.id, agent, DONE_FORM)
    bot = SlowResumer(failures=2, seconds=0)
    resumes = DurableResumer(engine, bot, clock=clock, retry_after=timedelta(seconds=10))

    assert await resumes.recover() == []  # attempt 1 fails: due in 10 s
    assert "ConnectionError" in (await row_of(engine, attention.id)).last_error
    assert await resumes.recover() == []  # not due yet
    clock.advance(seconds=10)
    assert await resumes.recover() == []  # attempt 2 fails: due in 20 s
    clock.advance(seconds=19)
    assert await resumes.recover() == []
    clock.advance(seconds=1)
    assert await resumes.recover() == [attention.id]
    assert bot.resumed == [attention.id] and (await row_of(engine, attention.id)).attempts == 3


async def test_a_claim_left_by_a_dead_process_lapses_and_another_takes_it(engine, service, agent, clock):
    attention = await opened(service, agent)
    await service.attentions.terminate(attention.id, agent, DONE_FORM)
    async with engine.begin() as connection:  # the dead process's claim
        assert await ResumeRows(connection).claim(attention.id, clock(), clock() + timedelta(seconds=60)) == 1
    bot = SlowResumer(seconds=0)
    survivor = DurableResumer(engine, bot, clock=clock)

    assert await survivor.recover() == []
    clock.advance(seconds=60)
    assert await survivor.recover() == [attention.id]
    assert bot.resumed == [attention.id]


async def test_the_port_returns_before_the_bots_turn_and_close_waits_for_it(engine, service, agent, clock):
    attention = await opened(service, agent)
    bot = SlowResumer(seconds=0.3)
    resumes = DurableResumer(engine, bot, clock=clock)
    service.context.resumer = resumes

    await asyncio.wait_for(service.attentions.terminate(attention.id, agent, DONE_FORM), 0.2)

    assert bot.resumed == []
    await resumes.close()
    assert bot.resumed == [attention.id] and (await row_of(engine, attention.id)).resumed_at is not None


async def test_a_resume_cut_short_at_shutdown_is_due_again_at_once(engine, service, agent, clock):
    attention = await opened(service, agent)
    resumes = DurableResumer(engine, SlowResumer(seconds=30), clock=clock)
    service.context.resumer = resumes
    await service.attentions.terminate(attention.id, agent, DONE_FORM)
    await asyncio.sleep(0.05)

    await resumes.close(grace=0.1)

    row = await row_of(engine, attention.id)
    assert row.resumed_at is None and row.claimed_until is None
    bot = SlowResumer(seconds=0)
    assert await DurableResumer(engine, bot, clock=clock).recover() == [attention.id]
