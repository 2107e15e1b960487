"""Transfers and orphaned attentions over the API and the WebSocket, with a campaigns file
of our own: a second Messenger campaign to transfer to, and a one-second orphan timeout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from handoff.clock import utc_now
from tests.connectors.harness import running_connectors
from tests.desk.support import BILLING, account, campaigns_with, handoff, login, next_frame, no_frame

SOON = timedelta(seconds=3)  # past the 1 s orphan timeout, well within the 90 s presence allowance


@pytest.fixture
def campaigns_file(tmp_path, monkeypatch) -> Path:
    campaigns = campaigns_with(tmp_path, BILLING, ("orphan_timeout: 10m", "orphan_timeout: 1s"))
    monkeypatch.setenv("HANDOFF_CAMPAIGNS", str(campaigns))
    return campaigns


@pytest.fixture
async def server(database_url, desk_settings, campaigns_file):
    async with running_connectors(database_url, desk=desk_settings) as running:
        yield running


async def opened_by(desk, server, customer_id: str = "6001") -> dict:
    attention = await handoff(server, customer_id)
    answer = await desk.post(f"/attentions/{attention['id']}/open")
    assert answer.status == 200
    return answer.body["attention"]


async def test_transfer_to_another_agent_reaches_them_live(server):
    ana, bruno = await account(server, "ana"), await account(server, "bruno")
    attention = await opened_by(ana, server)
    ana_socket, bruno_socket = await ana.live(), await bruno.live()
    moved = await ana.post(f"/attentions/{attention['id']}/transfer", {"agent_id": bruno.id, "note": "cambio de turno"})
    assert moved.status == 200 and moved.body["attention"]["agent_id"] == bruno.id and moved.body["attention"]["state"] == "open"
    for socket in (ana_socket, bruno_socket):
        frame = await next_frame(socket)
        assert frame["type"] == "attention.transferred" and frame["attention"]["agent_id"] == bruno.id
        assert frame["from_agent_id"] == ana.id and frame["actor"]["agent_id"] == ana.id
    assert [item["id"] for item in (await bruno.get("/attentions")).body["attentions"]] == [attention["id"]]
    assert (await ana.get(f"/attentions/{attention['id']}")).status == 403  # it is bruno's now
    assert (await ana.post(f"/attentions/{attention['id']}/transfer", {"agent_id": ana.id})).status == 403
    last = (await server.runtime.service.queries.audit_trail(attention["id"]))[-1]
    assert (last.action, last.detail["note"], last.detail["to_agent_id"]) == ("transfer_to_agent", "cambio de turno", bruno.id)
    for socket in (ana_socket, bruno_socket):
        await socket.close()


async def test_transfer_to_another_campaign_queues_it_there_live(server):
    ana = await account(server, "ana")
    carla = await account(server, "carla", campaigns=["facturacion"])
    attention = await opened_by(ana, server)
    carla_socket = await carla.live()
    targets = await ana.get(f"/attentions/{attention['id']}/transfer-targets")
    assert targets.status == 200 and targets.body["campaigns"] == [{"id": "facturacion", "name": "Facturación"}]
    moved = await ana.post(f"/attentions/{attention['id']}/transfer", {"campaign_id": "facturacion"})
    assert moved.status == 200 and moved.body["attention"]["state"] == "queued"
    frame = await next_frame(carla_socket)
    assert frame["type"] == "attention.transferred" and frame["attention"]["campaign_id"] == "facturacion"
    assert frame["attention"]["state"] == "queued" and frame["from_campaign_id"] == "soporte"
    assert [item["id"] for item in (await carla.get("/attentions")).body["attentions"]] == [attention["id"]]
    assert (await carla.post(f"/attentions/{attention['id']}/open")).status == 200
    await carla_socket.close()


async def test_who_may_transfer(server):
    ana, bruno = await account(server, "ana"), await account(server, "bruno")
    vale = await account(server, "vale", campaigns=["ventas"])
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    attention = await opened_by(ana, server)
    path = f"/attentions/{attention['id']}/transfer"
    assert (await ana.post(path, {"agent_id": bruno.id}, token=None)).status == 401
    assert (await vale.post(path, {"campaign_id": "facturacion"})).status == 403  # another campaign
    assert (await bruno.post(path, {"agent_id": bruno.id})).status == 403  # not his
    assert (await vale.get(f"/attentions/{attention['id']}/transfer-targets")).status == 403
    assert (await ana.get(f"/attentions/{attention['id']}/transfer-targets", token=None)).status == 401
    assert (await ana.post(path, {"agent_id": vale.id})).status == 422  # vale does not serve soporte
    assert (await ana.post(path, {"campaign_id": "ventas"})).status == 422  # Instagram only
    assert (await ana.post(path, {})).status == 400
    assert (await ana.post(path, {"agent_id": bruno.id, "campaign_id": "ventas"})).status == 400
    assert (await ana.post(path, {"agent_id": "bruno"})).status == 400
    moved = await boss.post(path, {"agent_id": bruno.id})  # supervisors transfer anyone's
    assert moved.status == 200 and moved.body["attention"]["agent_id"] == bruno.id
    queued = await handoff(server, "6002")
    assert (await ana.post(f"/attentions/{queued['id']}/transfer", {"agent_id": bruno.id})).status == 409  # not open


async def test_an_agent_who_logs_out_loses_open_attentions_after_the_timeout(server):
    ana, bruno = await account(server, "ana"), await account(server, "bruno")
    attention = await opened_by(ana, server)
    ana_socket, bruno_socket = await ana.live(), await bruno.live()
    assert (await ana.post("/logout")).status == 204
    await ana_socket.receive(timeout=5)
    assert ana_socket.close_code == 4401
    service = server.runtime.service
    await service.presence.return_orphans(now=utc_now() + SOON)  # what the runtime's sweeper does every 15 s
    frame = await next_frame(bruno_socket)
    assert frame["type"] == "attention.returned" and frame["attention_id"] == attention["id"]
    assert frame["attention"]["state"] == "queued" and frame["attention"]["agent_id"] is None
    assert frame["from_agent_id"] == ana.id and frame["actor"]["kind"] == "system"
    assert [item["state"] for item in (await bruno.get("/attentions")).body["attentions"]] == ["queued"]
    await bruno_socket.close()


async def test_an_agent_who_comes_back_in_time_keeps_them(server):
    # This test runs the orphan check itself; the server's 15 s sweeper, on a busy machine,
    # could find the reconnect later than the 1 s timeout and make the test about the clock.
    await server.runtime.close()
    ana, bruno = await account(server, "ana"), await account(server, "bruno")
    attention = await opened_by(ana, server)
    socket = await ana.live()
    await socket.close()  # the last socket closes: the timer starts
    bruno_socket = await bruno.live()
    again = await ana.live()  # a reconnect, before the timeout
    assert await server.runtime.service.presence.return_orphans(now=utc_now() + SOON) == []
    await no_frame(bruno_socket)
    assert (await ana.get(f"/attentions/{attention['id']}")).body["attention"]["state"] == "open"
    await ana.post("/logout")
    ana = await login(server, "ana")  # logged out, then in again in time
    assert await server.runtime.service.presence.return_orphans(now=utc_now() + SOON) == []
    assert (await ana.get(f"/attentions/{attention['id']}")).body["attention"]["agent_id"] == ana.id
    for open_socket in (again, bruno_socket):
        await open_socket.close()


async def test_the_timers_survive_a_restart(database_url, desk_settings, campaigns_file):
    async with running_connectors(database_url, desk=desk_settings) as first:
        ana = await account(first, "ana")
        attention = await opened_by(ana, first)
        socket = await ana.live()
        await ana.post("/logout")
        await socket.receive(timeout=5)
    async with running_connectors(database_url, desk=desk_settings) as restarted:
        returned = await restarted.runtime.service.presence.return_orphans(now=utc_now() + SOON)
        assert [item.id for item in returned] == [attention["id"]]
