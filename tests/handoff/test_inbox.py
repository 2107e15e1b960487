import asyncio

from connectors.meta.inbox import Inbox, IncomingItem


def item(key: str, conversation: str = "page:psid") -> IncomingItem:
    return IncomingItem(channel="messenger", dedup_key=key, conversation=conversation, payload={"mid": key})


async def test_redelivered_item_is_dropped(engine):
    inbox = Inbox(engine)
    first = await inbox.accept([item("m_1"), item("m_2")])
    again = await inbox.accept([item("m_2"), item("m_3")])
    assert [stored.payload["mid"] for stored in first] == ["m_1", "m_2"]
    assert [stored.payload["mid"] for stored in again] == ["m_3"]


async def test_same_key_on_another_channel_is_a_different_item(engine):
    inbox = Inbox(engine)
    await inbox.accept([item("m_1")])
    other = IncomingItem(channel="instagram", dedup_key="m_1", conversation="ig:1", payload={})
    assert len(await inbox.accept([other])) == 1


async def test_pending_items_are_replayed_in_order_until_handled(engine):
    inbox = Inbox(engine)
    stored = await inbox.accept([item(f"m_{n}") for n in range(5)])
    await inbox.mark_handled(stored[1].id)
    await inbox.mark_failed(stored[3].id, "boom")
    pending = await inbox.pending()
    assert [p.payload["mid"] for p in pending] == ["m_0", "m_2", "m_4"]
    assert await inbox.state_of("messenger", "m_3") == "failed"


async def test_concurrent_redeliveries_store_the_item_once(engine):
    inbox = Inbox(engine)
    results = await asyncio.gather(*(inbox.accept([item("m_same")]) for _ in range(10)))
    assert sum(len(r) for r in results) == 1


async def test_accepted_items_name_their_owner_and_only_the_owner_may_start_them(engine):
    import sqlalchemy as sa

    from connectors.storage.schema import inbox_item

    mine, other = Inbox(engine, owner="process-a"), Inbox(engine, owner="process-b")
    [first, _second] = await mine.accept([item("m_1"), item("m_2")])
    async with engine.connect() as connection:
        owners = (await connection.execute(sa.select(inbox_item.c.owner))).scalars().all()
    assert owners == ["process-a", "process-a"]
    # The fence of a lease: a process never starts an effect for an item it does not own.
    assert not await other.mark_handling(first.id)
    assert await mine.mark_handling(first.id)
    assert not await mine.mark_handling(first.id)  # only once, from pending
    assert await mine.state_of("messenger", "m_1") == "handling"
    assert await mine.state_of("messenger", "m_2") == "pending"
