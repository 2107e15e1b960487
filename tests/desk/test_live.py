"""The desk's WebSocket over a real connection: what each agent hears, in the contract's shapes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from connectors.desk.origins import OriginRule
from tests.connectors.fixtures import envelope, item
from tests.connectors.harness import running_connectors
from tests.desk.support import PUBLIC_URL, account, auth_frame, customer_writes, handoff, next_frame, no_frame


async def wait_until(condition, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def ws_url(server, query: str = "") -> str:
    return f"{server.url.replace('http', 'ws', 1)}/webhooks/desk/ws{query}"


async def closed_with(socket) -> int:
    message = await socket.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    return socket.close_code


async def refused_status(server, query: str = "", **headers: str) -> int:
    """The HTTP status a handshake gets when it is refused before the upgrade."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await server.session.ws_connect(ws_url(server, query), headers=headers)
    return refused.value.status


async def test_the_first_frame_carries_the_token(server):
    ana = await account(server, "ana")
    async with server.session.ws_connect(ws_url(server), headers={"Origin": PUBLIC_URL}) as socket:
        await socket.send_json(auth_frame(ana.token))
        assert (await socket.receive_json(timeout=5))["type"] == "ready"
        await socket.send_json({"type": "ping"})
        assert await socket.receive_json(timeout=5) == {"type": "pong"}


async def test_a_bad_first_frame_is_closed_with_4401(server):
    ana = await account(server, "ana")
    for first in (auth_frame("forged"), auth_frame(""), {"type": "ping"}, {"token": ana.token}, "not json"):
        async with server.session.ws_connect(ws_url(server), headers={"Origin": PUBLIC_URL}) as socket:
            await (socket.send_str(first) if isinstance(first, str) else socket.send_json(first))
            assert await closed_with(socket) == 4401, first
    assert not server.desk.live.connections_of(ana.id)


async def test_no_auth_frame_within_the_deadline_is_closed_with_4401(server):
    server.desk.live.auth_deadline = 0.3  # 5 s in production
    ana = await account(server, "ana")
    async with server.session.ws_connect(ws_url(server), headers={"Origin": PUBLIC_URL}) as socket:
        await asyncio.sleep(0.1)
        assert server.desk.live.connection_count == 0  # nothing is subscribed before the auth frame
        assert await closed_with(socket) == 4401
    assert not server.desk.live.connections_of(ana.id)


async def test_a_token_in_the_url_is_refused_even_a_valid_one(server):
    ana = await account(server, "ana")
    assert await refused_status(server, f"?token={ana.token}", Origin=PUBLIC_URL) == 400
    assert await refused_status(server, "?token=", Origin=PUBLIC_URL) == 400
    assert not server.desk.live.connections_of(ana.id)


async def test_a_foreign_origin_is_refused_before_the_upgrade(server):
    ana = await account(server, "ana")
    for origin in (
        "http://evil.example",
        "null",
        "https://desk.example.test",
        "http://desk.example.test:8080",
        "http://desk.example.test.evil.example",
        server.url,
    ):
        assert await refused_status(server, Origin=origin) == 403, origin
    assert not server.desk.live.connections_of(ana.id)


async def test_a_program_without_origin_authenticates_by_its_first_frame(server):
    ana = await account(server, "ana")
    async with server.session.ws_connect(ws_url(server)) as socket:
        await socket.send_json(auth_frame(ana.token))
        assert (await socket.receive_json(timeout=5))["type"] == "ready"
    async with server.session.ws_connect(ws_url(server)) as socket:  # no Origin is no pass
        await socket.send_json({"type": "ping"})
        assert await closed_with(socket) == 4401


async def test_without_a_public_url_only_the_requested_host_may_connect(database_url, desk_settings, monkeypatch):
    monkeypatch.delenv("HANDOFF_PUBLIC_URL", raising=False)
    settings = {key: value for key, value in desk_settings.items() if key != "public_url"}
    async with running_connectors(database_url, desk=settings) as local:
        assert local.desk is not None and local.session is not None
        assert local.desk.origins.public_origin is None
        ana = await account(local, "ana")
        for origin in ("http://evil.example", local.url.replace("127.0.0.1", "localhost"), local.url + "1", "null"):
            assert await refused_status(local, Origin=origin) == 403, origin
        async with local.session.ws_connect(ws_url(local), headers={"Origin": local.url}) as socket:
            await socket.send_json(auth_frame(ana.token))
            assert (await socket.receive_json(timeout=5))["type"] == "ready"


@pytest.mark.parametrize(
    "public_url, origin, host, allowed",
    [
        ("https://Desk.Example.com/", "https://desk.example.com", "internal:5005", True),  # case, path, proxied Host
        ("https://desk.example.com:443", "https://desk.example.com", "", True),  # the default port
        ("https://desk.example.com", "http://desk.example.com", "desk.example.com", False),  # another scheme
        ("https://desk.example.com", "https://desk.example.com:8443", "", False),
        (None, "http://127.0.0.1:5005", "127.0.0.1:5005", True),
        (None, "https://desk.example.com", "desk.example.com", True),  # TLS ended by a proxy that keeps Host
        (None, "http://127.0.0.1:5005", "127.0.0.1:5006", False),
        (None, "http://[::1]:5005", "[::1]:5005", True),
        (None, "file://", "127.0.0.1:5005", False),
        (None, "http://127.0.0.1:5005", None, False),
    ],
)
def test_which_origins_the_rule_allows(public_url, origin, host, allowed):
    assert OriginRule(public_url).allows(origin, host) is allowed


def test_a_public_url_that_is_no_origin_stops_the_start():
    with pytest.raises(ValueError):
        OriginRule("desk.example.com")


async def test_pings_are_answered_and_count_as_presence(server):
    ana = await account(server, "ana")
    socket = await ana.live()
    await socket.send_json({"type": "ping"})
    assert await socket.receive_json(timeout=5) == {"type": "pong"}
    await socket.send_str("not json")
    assert (await socket.receive_json(timeout=5))["type"] == "error"
    await socket.close()


async def test_agents_hear_the_queue_and_who_opened_what(server):
    ana = await account(server, "ana")
    bruno = await account(server, "bruno")
    ana_socket, bruno_socket = await ana.live(), await bruno.live()

    attention = await handoff(server, "6001", customer_name="Carla Pérez")
    for socket in (ana_socket, bruno_socket):
        queued = await next_frame(socket)
        assert queued["type"] == "attention.queued" and queued["attention_id"] == attention["id"]
        assert queued["attention"]["state"] == "queued" and queued["attention"]["customer"]["name"] == "Carla Pérez"
        assert queued["attention"]["campaign_name"] == "Soporte"
        assert queued["attention"]["list"] == "queued"  # where it belongs on this agent's page

    await customer_writes(server, "¿hay alguien?", "6001")
    for socket in (ana_socket, bruno_socket):  # the queue's preview moves for both
        added = await next_frame(socket)
        assert added["type"] == "message.added" and added["message"]["text"] == "¿hay alguien?"
        assert added["message"]["author"] == "customer" and added["attention_id"] == attention["id"]

    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    for socket, placed in ((ana_socket, "open"), (bruno_socket, None)):  # Bruno's page drops it from the queue
        opened = await next_frame(socket)
        assert opened["type"] == "attention.opened" and opened["attention"]["agent_id"] == ana.id
        assert opened["actor"] == {"kind": "agent", "agent_id": ana.id}
        assert opened["attention"]["list"] == placed

    # From now on the conversation is Ana's alone.
    await customer_writes(server, "gracias", "6001")
    added = await next_frame(ana_socket)
    assert added["type"] == "message.added" and added["message"]["text"] == "gracias"
    await no_frame(bruno_socket)

    sent = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "Hola Carla"})
    frames = [await next_frame(ana_socket), await next_frame(ana_socket)]
    assert [frame["type"] for frame in frames] == ["message.added", "message.updated"]
    assert frames[0]["message"]["status"] == "pending" and frames[1]["message"]["status"] == "sent"
    assert frames[1]["message"]["id"] == sent.body["message"]["id"]

    # Meta's delivery status reaches Ana's screen.
    delivery = item("messenger/delivery")
    delivery["delivery"].pop("mids")
    delivery["delivery"]["watermark"] = 4102444800000
    await server.post("messenger", envelope("messenger", [delivery]))
    await server.settle()
    updated = await next_frame(ana_socket)
    assert updated["type"] == "message.updated" and updated["message"]["status"] == "delivered"
    await no_frame(bruno_socket)

    ended = await ana.post(
        f"/attentions/{attention['id']}/terminate", {"values": {"motivo": "consulta", "resultado": "resuelto"}}
    )
    assert ended.status == 200
    terminated = await next_frame(ana_socket)
    assert terminated["type"] == "attention.terminated" and terminated["attention"]["state"] == "terminated"
    assert terminated["attention"]["list"] is None
    await no_frame(bruno_socket)
    for socket in (ana_socket, bruno_socket):
        await socket.close()


async def test_another_campaigns_events_are_not_delivered(server):
    ana = await account(server, "ana", campaigns=["soporte"])
    vera = await account(server, "vera", campaigns=["ventas"])
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana_socket, vera_socket, boss_socket = await ana.live(), await vera.live(), await boss.live()
    attention = await handoff(server, "7001", channel="instagram")
    for socket in (vera_socket, boss_socket):
        assert (await next_frame(socket))["type"] == "attention.queued"
    await customer_writes(server, "hello", "7001", channel="instagram")
    for socket in (vera_socket, boss_socket):
        assert (await next_frame(socket))["type"] == "message.added"
    await vera.post(f"/attentions/{attention['id']}/open")
    for socket in (vera_socket, boss_socket):
        opened = await next_frame(socket)
        assert opened["type"] == "attention.opened" and opened["attention"]["list"] == "open"  # the supervisor follows it
    await no_frame(ana_socket)
    for socket in (ana_socket, vera_socket, boss_socket):
        await socket.close()


async def test_labels_and_form_drafts_reach_the_owner(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    label = (await boss.post("/labels", {"name": "VIP", "colour": "#123456"})).body["label"]
    attention = await handoff(server, "6001")
    await ana.post(f"/attentions/{attention['id']}/open")
    socket = await ana.live()
    await ana.post(f"/attentions/{attention['id']}/labels/{label['id']}")
    applied = await next_frame(socket)
    assert applied["type"] == "attention.label_applied" and applied["label"] == label
    assert applied["attention"]["labels"] == [label]
    await ana.call("PUT", f"/attentions/{attention['id']}/form", {"values": {"motivo": "duda"}})
    assert (await next_frame(socket))["type"] == "attention.form_saved"
    await socket.close()


async def test_the_last_socket_closing_marks_the_agent_gone(server):
    ana = await account(server, "ana")
    first, second = await ana.live(), await ana.live()
    assert len(server.desk.live.connections_of(ana.id)) == 2
    await first.close()
    await wait_until(lambda: len(server.desk.live.connections_of(ana.id)) == 1)
    from connectors.storage.agents import AgentRows

    async with server.runtime.engine.connect() as connection:
        presence = (await AgentRows(connection).presences([ana.id]))[ana.id]
    assert presence.last_seen_at is not None
    assert presence.left_at is None or presence.left_at < presence.last_seen_at  # still here
    await second.close()
    await wait_until(lambda: not server.desk.live.connections_of(ana.id))
    async with server.runtime.engine.connect() as connection:
        presence = (await AgentRows(connection).presences([ana.id]))[ana.id]
    assert presence.left_at is not None


async def test_deactivation_and_logout_close_the_socket(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana")
    bruno = await account(server, "bruno")
    socket = await ana.live()
    await boss.call("PATCH", f"/agents/{ana.id}", {"active": False})
    message = await socket.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE and socket.close_code == 4401
    socket = await bruno.live()
    await bruno.post("/logout")
    await socket.receive(timeout=5)
    assert socket.close_code == 4401


async def test_new_campaigns_apply_to_an_open_socket(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    ana = await account(server, "ana", campaigns=["soporte"])
    socket = await ana.live()
    await boss.call("PATCH", f"/agents/{ana.id}", {"campaigns": ["soporte", "ventas"]})
    await handoff(server, "7001", channel="instagram")
    frame = await next_frame(socket)
    assert frame["type"] == "attention.queued" and frame["attention"]["campaign_id"] == "ventas"
    await socket.close()
