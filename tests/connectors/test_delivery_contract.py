"""Batches, redeliveries, standby entries and the early acknowledgement."""

import asyncio
import time

from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import running_connectors


async def test_every_item_of_every_entry_of_a_batch_is_handled(server):
    body = envelope("messenger", [with_mid(item("messenger/text"), f"m_{n}", sender=f"c{n % 3}") for n in range(10)])
    second_entry = envelope("messenger", [with_mid(item("messenger/text"), f"m_{n}", sender="c9") for n in range(10, 20)])
    body["entry"] += second_entry["entry"]
    assert (await server.post("messenger", body)).status == 200
    turns = await server.wait_turns(20)
    assert sorted(turn.message_id for turn in turns) == sorted(f"m_{n}" for n in range(20))


async def test_a_redelivered_item_never_gets_a_second_turn(server):
    body = envelope("messenger", [item("messenger/text")])
    for _ in range(3):
        assert (await server.post("messenger", body)).status == 200
    await server.settle()
    # A batch that repeats an item inside itself, too.
    await server.post("messenger", envelope("messenger", [item("messenger/postback"), item("messenger/postback")]))
    await server.settle()
    assert [turn.message_id for turn in server.turns] == ["m_text", "m_pb"]


async def test_messages_of_one_customer_reach_the_bot_in_order(server):
    for n in range(15):
        await server.post("messenger", envelope("messenger", [with_mid(item("messenger/text"), f"m_{n:02}")]))
    turns = await server.wait_turns(15)
    assert [turn.message_id for turn in turns] == [f"m_{n:02}" for n in range(15)]


async def test_standby_and_changes_entries_do_not_crash_and_make_no_turn(server):
    body = envelope("messenger", [item("messenger/text")], key="standby")
    body["entry"].append({"id": "100000000000001", "time": 1, "changes": [{"field": "feed", "value": {"item": "post"}}]})
    assert (await server.post("messenger", body)).status == 200
    await server.settle()
    assert server.turns == []


async def test_the_200_comes_before_the_bot_turn(database_url):
    release = asyncio.Event()

    async def slow_bot(message):
        await release.wait()

    async with running_connectors(database_url, bot=slow_bot) as server:
        started = time.perf_counter()
        response = await server.post("messenger", envelope("messenger", [item("messenger/text")]))
        elapsed = time.perf_counter() - started
        assert response.status == 200
        await server.wait_turns(1)
        # The turn is still running (the bot waits), yet Meta already has its answer.
        assert not release.is_set() and elapsed < 5
        release.set()


async def test_acknowledged_items_survive_a_stop_and_are_replayed(database_url):
    blocked = asyncio.Event()

    async def stuck_bot(message):
        await blocked.wait()  # the process "dies" in the middle of the turn

    async with running_connectors(database_url, bot=stuck_bot) as server:
        await server.post(
            "messenger", envelope("messenger", [with_mid(item("messenger/text"), "m_a"), with_mid(item("messenger/text"), "m_b")])
        )
        await server.wait_turns(1)
    async with running_connectors(database_url) as restarted:
        turns = await restarted.wait_turns(2)
        assert [turn.message_id for turn in turns] == ["m_a", "m_b"]


async def test_a_live_item_is_parsed_once_at_receipt_and_its_event_reaches_the_bot(server, monkeypatch):
    """Parse once (issue 14): the typed event built when the webhook is received travels
    with the item to the dispatcher; only a replay parses the stored JSON again."""
    import connectors.meta.channel as channel_module
    import connectors.meta.routing as routing_module

    parsed: list[str] = []
    reparsed: list[str] = []
    parse, parse_stored = channel_module.parse, routing_module.parse_stored

    def counted_parse(item):
        parsed.append(item.channel)
        return parse(item)

    def counted_parse_stored(channel, payload):
        reparsed.append(channel)
        return parse_stored(channel, payload)

    monkeypatch.setattr(channel_module, "parse", counted_parse)
    monkeypatch.setattr(routing_module, "parse_stored", counted_parse_stored)
    body = envelope("messenger", [with_mid(item("messenger/text"), f"m_once_{n}", sender=f"c{n}") for n in range(3)])
    assert (await server.post("messenger", body)).status == 200
    turns = await server.wait_turns(3)
    assert sorted(turn.message_id for turn in turns) == ["m_once_0", "m_once_1", "m_once_2"]
    assert parsed == ["messenger"] * 3 and reparsed == []
