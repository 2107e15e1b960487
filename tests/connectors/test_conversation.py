"""A whole exchange through the server: profile, seen and typing, the reply, the echo."""

import asyncio
import logging

import pytest

from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import echo_bot, running_connectors


async def test_a_turn_answers_and_knows_the_customer(database_url):
    async with running_connectors(database_url, bot=echo_bot) as server:
        server.graph.add_profile("6001", first_name="Ana", last_name="Pérez", profile_pic="https://p.example/ana.jpg")
        await server.post("messenger", envelope("messenger", [item("messenger/text")]))
        [reply] = await server.graph.wait_for_messages(1)
        assert reply.json["message"]["text"] == "eco: Hola, ¿a qué hora abren? 😀"
        assert reply.json["recipient"]["id"] == "6001"
        [turn] = server.turns
        assert turn.metadata["customer"] == {"id": "6001", "name": "Ana Pérez", "picture_url": "https://p.example/ana.jpg"}


@pytest.mark.timing
async def test_a_fast_turn_shows_no_typing_and_a_slow_one_does(database_url):
    turn_may_end = asyncio.Event()

    async def slow_for_7002(message):
        if message.sender_id == "7002":
            await turn_may_end.wait()
        await echo_bot(message)

    async with running_connectors(database_url, bot=slow_for_7002, typing_delay=0.05) as server:
        await server.post("messenger", envelope("messenger", [with_mid(item("messenger/text"), "m_fast")]))
        await server.graph.wait_for_messages(1)
        await server.settle()
        assert server.graph.sender_actions("6001") == []  # answered before the delay: no dots, no receipt

        slow = item("messenger/text")
        slow["sender"]["id"] = "7002"
        await server.post("messenger", envelope("messenger", [with_mid(slow, "m_slow")]))
        shown = await server.graph.wait_for(lambda r: r.sender_action == "typing_on", count=1)
        assert shown and not server.graph.sent_messages("7002")  # the dots came while the turn ran
        turn_may_end.set()
        await server.graph.wait_for_messages(2)
        await server.settle()
        actions = [request.json["sender_action"] for request in server.graph.sender_actions("7002")]
        assert sorted(actions) == ["mark_seen", "typing_on"]  # the reply clears the dots; no typing_off


async def test_a_slow_silent_turn_clears_the_dots(database_url):
    async def slow_and_silent(message):
        await asyncio.sleep(0.3)

    async with running_connectors(database_url, bot=slow_and_silent, typing_delay=0.05) as server:
        await server.post("messenger", envelope("messenger", [item("messenger/text")]))
        await server.wait_turns(1)
        await server.settle()
        actions = [request.json["sender_action"] for request in server.graph.sender_actions("6001")]
        assert actions[-1] == "typing_off" and sorted(actions[:2]) == ["mark_seen", "typing_on"]


async def test_typing_delay_zero_shows_the_dots_for_every_turn(database_url):
    async with running_connectors(database_url, bot=echo_bot, typing_delay=0) as server:
        await server.post("messenger", envelope("messenger", [item("messenger/text")]))
        await server.graph.wait_for_messages(1)
        actions = [request.json["sender_action"] for request in server.graph.sender_actions("6001")]
        assert actions[:2] in (["mark_seen", "typing_on"], ["typing_on", "mark_seen"])


async def test_profiles_are_cached_and_fall_back_to_the_id(database_url):
    async with running_connectors(database_url) as server:
        for n in range(3):
            await server.post("instagram", envelope("instagram", [with_mid(item("instagram/text"), f"ig_{n}")]))
        turns = await server.wait_turns(3)
        assert server.graph.profile_request_count("7001") == 1
        assert turns[0].metadata["customer"]["name"] == "7001"  # no profile: the id


async def test_our_echo_is_not_customer_input_and_an_inbox_reply_is_recorded(database_url, caplog):
    caplog.set_level(logging.INFO, logger="connectors")
    async with running_connectors(database_url, bot=echo_bot) as server:
        await server.post("messenger", envelope("messenger", [item("messenger/text")]))
        [reply] = await server.graph.wait_for_messages(1)
        echo = item("messenger/echo_ours")
        echo["message"].update(mid=reply.message_id, metadata=reply.json["message"]["metadata"], app_id=99)
        await server.post("messenger", envelope("messenger", [echo, item("messenger/echo_page_inbox")]))
        await server.settle()
        assert len(server.turns) == 1
        assert "another app (263902037430900)" in caplog.text
