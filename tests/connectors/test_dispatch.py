"""The dispatcher against a database that is briefly away: no item lost, none done twice,
no conversation stranded (found by the desk load test when PostgreSQL's pool ran dry)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc as sa_exc

from connectors.meta.inbox import FAILED, HANDLED, PENDING, ConversationDispatcher, Inbox, IncomingItem, ItemProgress, StoredItem


def pool_ran_dry() -> sa_exc.TimeoutError:
    return sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached")


def database_locked() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("UPDATE inbox_item", {}, Exception("database is locked"))


async def accepted(inbox: Inbox, *keys: str, conversation: str = "c1") -> list[StoredItem]:
    return await inbox.accept([IncomingItem("messenger", key, conversation, {"key": key}) for key in keys])


async def run(dispatcher: ConversationDispatcher, items: list[StoredItem]) -> None:
    dispatcher.submit(items)
    await asyncio.wait_for(dispatcher.wait_idle(), 10)


@pytest.fixture
def inbox(engine) -> Inbox:
    return Inbox(engine)


async def test_an_item_that_hit_a_dry_pool_before_any_effect_is_tried_again_once_done(inbox):
    effects: list[str] = []
    failures = [pool_ran_dry(), database_locked()]

    async def handle(item: StoredItem, progress: ItemProgress) -> None:
        if failures:
            raise failures.pop(0)  # as a lookup's transaction would, before anything happened
        effects.append(item.payload["key"])

    items = await accepted(inbox, "m1", "m2")
    await run(ConversationDispatcher(inbox, handle, retry_delays=(0.01, 0.01, 0.01)), items)
    assert effects == ["m1", "m2"]  # each once, in order
    assert [await inbox.state_of("messenger", key) for key in ("m1", "m2")] == [HANDLED, HANDLED]


async def test_an_item_whose_effect_had_begun_is_never_tried_again(inbox):
    turns: list[str] = []

    async def handle(item: StoredItem, progress: ItemProgress) -> None:
        await progress.begin()
        turns.append(item.payload["key"])
        raise database_locked()  # after the bot turn started: a retry could answer twice

    [item] = await accepted(inbox, "m1")
    await run(ConversationDispatcher(inbox, handle, retry_delays=(0.01,)), [item])
    assert turns == ["m1"] and await inbox.state_of("messenger", "m1") == FAILED


async def test_a_database_that_stays_away_fails_the_item_and_the_conversation_goes_on(inbox):
    async def handle(item: StoredItem, progress: ItemProgress) -> None:
        if item.payload["key"] == "m1":
            raise pool_ran_dry()

    items = await accepted(inbox, "m1", "m2")
    await run(ConversationDispatcher(inbox, handle, retry_delays=(0.01, 0.01)), items)
    assert [await inbox.state_of("messenger", key) for key in ("m1", "m2")] == [FAILED, HANDLED]


class OutcomesRefused(Inbox):
    """The database refuses the outcome writes for a while (a real Inbox otherwise)."""

    def __init__(self, engine, refusals: int) -> None:
        super().__init__(engine)
        self.refusals = refusals

    async def mark_handled(self, item_id: int, note: str | None = None) -> None:
        if self.refusals:
            self.refusals -= 1
            raise pool_ran_dry()
        await super().mark_handled(item_id, note)


async def test_an_outcome_that_cannot_be_written_does_not_strand_the_conversation(engine):
    inbox = OutcomesRefused(engine, refusals=9)  # three tries for each of the three items
    handled: list[str] = []

    async def handle(item: StoredItem, progress: ItemProgress) -> None:
        handled.append(item.payload["key"])

    items = await accepted(inbox, "m1", "m2", "m3")
    await run(ConversationDispatcher(inbox, handle, retry_delays=(0.01, 0.01)), items)
    assert handled == ["m1", "m2", "m3"]  # the worker outlived the refusals
    # Unrecorded outcomes stay unfinished, for the next start's replay to settle.
    assert [await inbox.state_of("messenger", key) for key in ("m1", "m2", "m3")] == [PENDING] * 3


async def test_a_brief_refusal_of_the_outcome_is_written_on_a_later_try(engine):
    inbox = OutcomesRefused(engine, refusals=1)

    async def handle(item: StoredItem, progress: ItemProgress) -> None:
        return None

    [item] = await accepted(inbox, "m1")
    await run(ConversationDispatcher(inbox, handle, retry_delays=(0.01,)), [item])
    assert await inbox.state_of("messenger", "m1") == HANDLED
