"""The runtime's life belongs to no adapter: whichever starts first builds it and it runs
its sweepers itself, so a desk-only process and a Meta-only one both return orphaned
attentions and settle the outbox; it closes once, after every adapter stopped, and the
shared engine after it. Real Sanic app (the connectors' harness), real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.runtime import HandoffRuntime
from connectors.storage.schema import inbox_lease
from handoff.model import Agent, Attention, Message, MessageStatus, Role
from handoff.service import HandoffService
from handoff.states import AttentionState
from tests.connectors.harness import ConnectorServer, running_connectors
from tests.desk.support import campaigns_with

DESK_ONLY = ("desk",)
META_ONLY = ("messenger", "instagram")
EVERYTHING = ("messenger", "instagram", "desk")
TEXT = "Hola, ya lo reviso"


@pytest.fixture(autouse=True)
def quick_sweeps(tmp_path, monkeypatch) -> None:
    # Sweeps every 0.2 s; an outbox send is stale after 1 s and an absent agent's attention
    # an orphan after 1 s (soporte's orphan_timeout): the sweepers act within seconds.
    monkeypatch.setenv("HANDOFF_ORPHAN_SWEEP_SECONDS", "0.2")
    monkeypatch.setenv("HANDOFF_OUTBOX_SWEEP_SECONDS", "0.2")
    monkeypatch.setenv("HANDOFF_OUTBOX_STALE_SECONDS", "1")
    monkeypatch.setenv("HANDOFF_CAMPAIGNS", str(campaigns_with(tmp_path, "", ("orphan_timeout: 10m", "orphan_timeout: 1s"))))


async def orphaned(service: HandoffService, agent: Agent) -> Attention:
    """An attention its agent opened and then left (logged out, closed the desk)."""
    await service.presence.seen(agent.id)
    attention = await service.inbound.request_handoff(
        "messenger",
        "page_1",
        "psid_orphan",
        intent="request_human",
        slots={"customer_name": "Carla", "handoff_reason": "Mi pedido"},
    )
    opened = await service.attentions.open(attention.id, agent)
    await service.presence.left(agent.id)
    return opened


async def left_pending(runtime: HandoffRuntime, agent: Agent) -> Message:
    """An agent message whose process died while handing it to Meta: ``pending`` in the
    outbox, its attempt recorded (Meta may have it, so the sweep settles it as unknown)."""
    service = runtime.service
    attention = await service.inbound.request_handoff(
        "messenger", "page_1", "psid_outbox", intent="request_human", slots={"customer_name": "Luis", "handoff_reason": "Factura"}
    )
    await service.attentions.open(attention.id, agent)
    reached = asyncio.Event()

    async def stuck(_outbound: Any) -> Any:
        reached.set()
        await asyncio.Event().wait()

    runtime.gateways.send = stuck  # type: ignore[method-assign,assignment]
    sending = asyncio.create_task(service.outbox.send_agent_message(attention.id, agent, TEXT))
    try:
        await asyncio.wait_for(reached.wait(), 10)
    finally:
        sending.cancel()  # where a SIGKILL would hit: mid-send
        await asyncio.gather(sending, return_exceptions=True)
        del runtime.gateways.send
    [pending] = [m for m in (await service.queries.detail(attention.id)).messages if m.text == TEXT]
    assert pending.status is MessageStatus.PENDING
    return pending


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the sweepers did not get to it in time"
        await asyncio.sleep(0.1)


async def both_sweepers_work(server: ConnectorServer) -> None:
    runtime = server.runtime
    service = runtime.service
    ana = await service.agents.add("ana", "Ana", Role.AGENT, ["soporte"])
    bruno = await service.agents.add("bruno", "Bruno", Role.AGENT, ["soporte"])
    attention = await orphaned(service, ana)
    await service.presence.seen(bruno.id)
    message = await left_pending(runtime, bruno)

    async def returned() -> bool:
        current = await service.attentions.get(attention.id)
        return current.state is AttentionState.QUEUED and current.agent_id is None

    async def settled() -> bool:
        [found] = [m for m in (await service.queries.detail(message.attention_id)).messages if m.id == message.id]
        return found.status is not MessageStatus.PENDING

    # Nothing in the test calls return_orphans or recover_outbox: only the runtime's sweepers.
    await eventually(returned)
    await eventually(settled)
    last = (await service.queries.audit_trail(attention.id))[-1]
    assert (last.action, last.detail["from_agent_id"]) == ("return_orphan", ana.id)
    [found] = [m for m in (await service.queries.detail(message.attention_id)).messages if m.id == message.id]
    assert found.status is MessageStatus.UNKNOWN  # Meta may have it: settled, never resent


async def leases(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.select(sa.func.count()).select_from(inbox_lease))).scalar_one())


async def test_a_desk_only_process_sweeps_orphans_and_the_outbox(database_url):
    async with running_connectors(database_url, adapters=DESK_ONLY) as server:
        assert server.channels == {} and server.desk is not None
        await both_sweepers_work(server)
        # It dispatches no inbox items, so it takes no inbox lease (connectors.meta.leases).
        assert await leases(server.runtime.engine) == 0


async def test_a_meta_only_process_sweeps_orphans_and_the_outbox(database_url):
    async with running_connectors(database_url, adapters=META_ONLY) as server:
        assert server.desk is None
        await both_sweepers_work(server)
        assert await leases(server.runtime.engine) == 1  # the Meta channels' one lease


@pytest.mark.parametrize("adapters", [DESK_ONLY, META_ONLY, EVERYTHING], ids="+".join)
async def test_the_runtime_closes_once_after_every_adapter_and_the_engine_last(
    database_url, monkeypatch, adapters: Sequence[str]
):
    happened: list[str] = []
    close, dispose = HandoffRuntime.close, AsyncEngine.dispose

    async def closing(runtime: HandoffRuntime) -> None:
        happened.append("runtime")
        await close(runtime)

    async def disposing(engine: AsyncEngine, *args: Any, **kwargs: Any) -> None:
        happened.append("engine")
        await dispose(engine, *args, **kwargs)

    monkeypatch.setattr(HandoffRuntime, "close", closing)
    monkeypatch.setattr(AsyncEngine, "dispose", disposing)
    async with running_connectors(database_url, adapters=adapters) as server:
        runtime = server.runtime
        assert runtime._sweeper is not None and runtime._outbox_sweeper is not None  # running without being asked
        assert happened == []
    assert happened == ["runtime", "engine"]
    assert runtime._sweeper is None and runtime._outbox_sweeper is None and runtime._ownership is None
    assert not hasattr(server.app.ctx, "handoff_runtime") and not hasattr(server.app.ctx, "handoff_engine")
    # The lease (Meta processes) was released at the close: nothing left for others to wait out.
    check = await _reopened(database_url)
    assert await leases(check) == 0
    await check.dispose()


async def _reopened(database_url: str) -> AsyncEngine:
    from connectors.storage.db import create_engine

    return create_engine(database_url)
