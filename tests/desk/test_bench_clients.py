"""The benchmarks' clients keep speaking the product's current contract. `make bench` is not
part of `make test`, so when a door changed (the WebSocket token left the URL, Rasa needing
the service token to read endpoints.yml) the benchmarks broke unseen; these catch that here."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from bench import servers
from bench.handoff_desk import AgentSockets, DeskAgent
from bench.handoff_setup import desk_socket
from tests.desk.support import account

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{(\w+)\}")


async def test_the_handoff_benchmarks_desk_sockets_get_ready_on_the_real_desk(server):
    ana = await account(server, "ana")
    sockets = AgentSockets()
    assert ana.token is not None and ana.agent is not None
    target = desk_socket(server.url, DeskAgent(0, ana.agent["id"], "ana", ana.token))
    assert "token" not in target.url  # the desk answers 400 to a token in the URL
    async with aiohttp.ClientSession() as session:
        await sockets.connect(session, [target])  # returns once the socket said "ready"
        await sockets.close()


def test_the_built_in_channels_server_gets_every_variable_the_endpoints_file_names():
    # Rasa stops at start when endpoints.yml names a variable the environment lacks.
    lines = (ROOT / "endpoints.yml").read_text(encoding="utf-8").splitlines()
    named = {name for line in lines for name in _VARIABLE.findall(line.split("#", 1)[0])}
    assert named, "endpoints.yml names no variable: the check would prove nothing"
    env = servers.facebook_env("http://127.0.0.1:9")
    assert sorted(name for name in named if not env.get(name)) == []
