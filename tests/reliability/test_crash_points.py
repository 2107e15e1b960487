"""SIGKILL at the exact moments random kills rarely hit (see ``standin_server.py``).

What a replay after a crash does with an item the dead process had started on is the
contract of ``connectors.meta.inbox`` (module docstring): it never runs a bot turn a second time
to completion, never stores an attention message twice, and reruns a cut-short turn only
when Rasa's tracker store proves the turn did not complete.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.reliability.support import StandIn, body_of, create_attention, post, text_item

pytestmark = pytest.mark.timeout(120)


def record_of(server: StandIn):
    """Completed turns: the durable tracker store, or the fsync'ed turn log (volatile)."""
    return server.tracker_turns() if server.memory == "durable" else server.turn_log()


def states(server: StandIn) -> dict[str, tuple[str, str | None]]:
    return {row["dedup_key"].split(":", 1)[1]: (row["state"], row["error"]) for row in server.inbox()}


async def crash_then_restart(server: StandIn, session: aiohttp.ClientSession, channel: str, items: list[dict]) -> None:
    assert await post(session, server.url, channel, body_of(channel, [items])) == 200
    assert await server.wait_exit() == -9
    server.crash = []
    await server.start()
    await server.settle()


@pytest.mark.parametrize("memory", ["durable", "volatile"])
async def test_a_turn_that_completed_just_before_the_kill_is_not_run_again(tmp_path, graph, memory):
    server = await StandIn(tmp_path, graph.url, memory, crash=["m_done:turn_done"]).start()
    try:
        async with aiohttp.ClientSession() as session:
            await crash_then_restart(server, session, "messenger", [text_item("messenger", "c-done", "m_done")])
            assert (
                await post(session, server.url, "messenger", body_of("messenger", [[text_item("messenger", "c-done", "m_next")]]))
                == 200
            )
            await server.settle()
        assert record_of(server) == {"m_done": 1, "m_next": 1}
        assert server.turn_log() == {"m_done": 1, "m_next": 1}
        state, error = states(server)["m_done"]
        if memory == "durable":
            assert state == "handled"  # the tracker store shows the turn completed
        else:
            assert state == "failed" and "interrupted" in (error or "")  # nothing can tell: never run twice
    finally:
        server.stop()


@pytest.mark.parametrize("memory", ["durable", "volatile"])
async def test_a_turn_cut_in_the_middle_is_rerun_only_when_the_tracker_store_proves_it(tmp_path, graph, memory):
    server = await StandIn(tmp_path, graph.url, memory, crash=["m_cut:turn_middle"]).start()
    try:
        async with aiohttp.ClientSession() as session:
            # m_cut dies mid-turn; m_after (same customer) and m_other were acknowledged and
            # still waiting: they must be replayed exactly once.
            items = [text_item("messenger", "c-cut", "m_cut"), text_item("messenger", "c-cut", "m_after")]
            await crash_then_restart(server, session, "messenger", items)
        record = record_of(server)
        assert record["m_after"] == 1
        assert max(server.turn_log().values()) == 1 and max(record.values()) == 1
        state, error = states(server)["m_cut"]
        if memory == "durable":
            # The tracker exists (created as the turn began) without m_cut: the turn did not
            # complete, so it is run again, and completes once.
            assert record["m_cut"] == 1 and state == "handled"
        else:
            # Rasa's in-memory store forgot everything: at most once, and the inbox says so.
            assert record["m_cut"] == 0 and state == "failed" and "interrupted" in (error or "")
    finally:
        server.stop()


async def test_an_attention_message_stored_just_before_the_kill_is_not_stored_again(tmp_path, graph):
    server = await StandIn(tmp_path, graph.url, "volatile", crash=["m_att:recorded"]).start()
    try:
        async with aiohttp.ClientSession() as session:
            await create_attention(session, server.url, "instagram", "c-att")
            items = [text_item("instagram", "c-att", "m_att"), text_item("instagram", "c-att", "m_att2")]
            await crash_then_restart(server, session, "instagram", items)
        assert server.attention_messages() == {"m_att": 1, "m_att2": 1}
        assert server.turn_log() == {}
        assert {key: state for key, (state, _) in states(server).items()} == {"m_att": "handled", "m_att2": "handled"}
    finally:
        server.stop()
