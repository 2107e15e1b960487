"""Two server processes behind one balancer: one database, one Redis. An agent's desk is
connected to server A; the customer's webhooks and other desks' calls land on server B.
Without the Redis bus, A's WebSocket would hear nothing of what B handled."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import pytest

from tests.connectors.harness import running_connectors
from tests.desk.support import Desk, account, customer_writes, handoff, next_frame
from tests.handoff.test_redis_bus import REDIS_URL, RedisCable, redis_or_skip


@pytest.fixture
def redis_channel(monkeypatch) -> str:
    redis_or_skip()
    channel = f"handoff:test:{uuid.uuid4().hex[:12]}"  # this test's servers only
    monkeypatch.setenv("HANDOFF_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("HANDOFF_REDIS_CHANNEL", channel)
    return channel


async def listening(*servers) -> None:
    # Each server subscribes in the background at start; events before that are not for it.
    for server in servers:
        assert await server.runtime.service.bus.wait_listening(5), "the server never subscribed to Redis"


async def test_a_desk_on_one_server_hears_what_another_server_handled(redis_channel, database_url, desk_settings):
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(running_connectors(database_url, desk=desk_settings))
        b = await stack.enter_async_context(running_connectors(database_url, desk=desk_settings))
        await listening(a, b)
        ana = await account(a, "ana")
        ana_socket = await ana.live()  # on A

        attention = await handoff(b, "6001", customer_name="Carla Pérez")  # the bot's handoff reaches B
        queued = await next_frame(ana_socket)
        assert queued["type"] == "attention.queued" and queued["attention_id"] == attention["id"]
        assert queued["attention"]["customer"]["name"] == "Carla Pérez"

        await customer_writes(b, "¿hay alguien?", "6001")  # the customer's webhook lands on B
        added = await next_frame(ana_socket)
        assert added["type"] == "message.added" and added["message"]["text"] == "¿hay alguien?"
        assert added["attention_id"] == attention["id"] and added["message"]["author"] == "customer"

        # Ana's own call is balanced to B too (same session, same database).
        ana_on_b = Desk(b, ana.token, ana.agent)
        assert (await ana_on_b.post(f"/attentions/{attention['id']}/open")).status == 200
        opened = await next_frame(ana_socket)
        assert opened["type"] == "attention.opened" and opened["attention"]["agent_id"] == ana.id
        assert opened["actor"] == {"kind": "agent", "agent_id": ana.id}

        await customer_writes(b, "gracias", "6001")
        added = await next_frame(ana_socket)
        assert added["type"] == "message.added" and added["message"]["text"] == "gracias"
        await ana_socket.close()


async def test_a_server_cut_off_from_redis_makes_its_desks_reload(redis_channel, database_url, desk_settings, monkeypatch):
    cable = RedisCable()
    await cable.start()
    try:
        async with AsyncExitStack() as stack:
            monkeypatch.setenv("HANDOFF_REDIS_URL", cable.url)  # read when A builds its service
            a = await stack.enter_async_context(running_connectors(database_url, desk=desk_settings))
            monkeypatch.setenv("HANDOFF_REDIS_URL", REDIS_URL)
            b = await stack.enter_async_context(running_connectors(database_url, desk=desk_settings))
            await listening(a, b)
            ana = await account(a, "ana")
            ana_socket = await ana.live()

            cable.cut()
            attention = await handoff(b, "6002")  # raised while A cannot hear it
            cable.mend()
            assert await next_frame(ana_socket) == {"type": "resync"}  # the page reloads its lists

            await customer_writes(b, "sigo aquí", "6002")
            added = await next_frame(ana_socket)
            assert added["type"] == "message.added" and added["attention_id"] == attention["id"]
            await ana_socket.close()
    finally:
        await cable.stop()
