"""Inbox.accept of whole batches: multi-row inserts keep every guarantee of the one-row path."""

import pytest

from connectors.meta.inbox import ACCEPT_CHUNK_ROWS, Inbox, IncomingItem


def item(key: str) -> IncomingItem:
    return IncomingItem(channel="messenger", dedup_key=key, conversation=f"page:{key[-1]}", payload={"mid": key})


@pytest.mark.parametrize("returning", [True, False], ids=["multi-row", "row-by-row"])
async def test_a_batch_over_several_chunks_keeps_order_and_drops_what_was_seen(engine, returning):
    inbox = Inbox(engine, owner="me")
    inbox._returning = returning and inbox._returning  # row by row: SQLite before 3.35
    count = 2 * ACCEPT_CHUNK_ROWS + 7
    first = await inbox.accept([item(f"m_{n}") for n in range(count)])
    assert [stored.payload["mid"] for stored in first] == [f"m_{n}" for n in range(count)]
    # Ids follow the order given, so a replay (by id) keeps each conversation's order.
    assert [stored.id for stored in first] == sorted(stored.id for stored in first)
    # Seen before, new, and new twice within the batch: each new key once, first copy wins.
    again = [item(f"m_{n}") for n in range(count - 5, count + 5)] + [IncomingItem("messenger", "m_new", "x", {"copy": 2})]
    again.insert(0, IncomingItem("messenger", "m_new", "x", {"copy": 1}))
    second = await inbox.accept(again)
    assert [stored.payload.get("mid", stored.payload.get("copy")) for stored in second] == [
        1,
        *(f"m_{n}" for n in range(count, count + 5)),
    ]
    assert len(await inbox.pending(limit=10_000)) == count + 6
    assert await inbox.accept([]) == []
