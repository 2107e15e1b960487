"""The desk's avatars: the profile picture the bot's handoff brings is stored with its
expiry and shown until Meta's link stops working; then initials (picture_url null)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.desk.support import account, handoff


def meta_link(ends: datetime) -> str:
    return f"https://scontent.example/v/pic.jpg?_nc_sid=1&oe={int(ends.timestamp()):X}"


async def card_of(desk, attention_id: int) -> dict:
    return {item["id"]: item for item in (await desk.get("/attentions")).body["attentions"]}[attention_id]


async def test_the_picture_of_the_handoff_is_the_avatar_until_its_link_expires(server):
    ana = await account(server, "ana")
    soon = datetime.now(timezone.utc) + timedelta(days=2)
    fresh = await handoff(server, "6001", customer_name="Carla Pérez", customer_picture_url=meta_link(soon))
    gone = await handoff(
        server,
        "6002",
        customer_name="Luis Gómez",
        customer_picture_url=meta_link(datetime.now(timezone.utc) - timedelta(minutes=1)),
    )
    assert (await card_of(ana, fresh["id"]))["customer"]["picture_url"] == meta_link(soon)
    assert (await card_of(ana, gone["id"]))["customer"]["picture_url"] is None  # initials, not a broken image
    stored = await server.runtime.service.queries.detail(fresh["id"])
    assert stored.customer.picture_expires_at == soon.replace(microsecond=0)


async def test_a_link_that_is_not_http_is_never_stored(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6003", customer_picture_url="javascript:alert(1)")
    assert (await card_of(ana, attention["id"]))["customer"]["picture_url"] is None
    assert (await server.runtime.service.queries.detail(attention["id"])).customer.picture_url is None
