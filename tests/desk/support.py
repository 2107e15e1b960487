"""Helpers of the desk tests: accounts, logins, handoffs and API calls over real HTTP."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.desk.accounts import create_account
from tests.connectors.fixtures import envelope, item, with_mid
from tests.connectors.harness import IG_ACCOUNT_ID, PAGE_ID, SERVICE_TOKEN

SESSION_SECRET = "test-session-secret-that-is-long-enough-for-hs256"
PUBLIC_URL = "http://desk.example.test"
API = "/webhooks/desk/api"
PASSWORD = "contraseña-segura"
CAMPAIGNS = Path(__file__).resolve().parents[2] / "data" / "campaigns.yml"


def campaigns_with(folder: Path, campaign: str, *replacements: tuple[str, str]) -> Path:
    """The designers' campaigns file with one more campaign (YAML, before Ventas) and the
    given text replacements, written in ``folder``: set HANDOFF_CAMPAIGNS to it."""
    text = CAMPAIGNS.read_text(encoding="utf-8").replace("  - id: ventas\n", campaign + "  - id: ventas\n")
    for old, new in replacements:
        text = text.replace(old, new)
    written = folder / "campaigns.yml"
    written.write_text(text, encoding="utf-8")
    return written


# A second Messenger campaign to transfer to: its form shares ``nombre`` with Soporte, names
# the order number differently and asks for the reason (insert it with campaigns_with).
BILLING = """  - id: facturacion
    name: Facturación
    channels: [messenger]
    orphan_timeout: 10m
    human_agent_tag: false
    handoff_message: {es: "Te paso con facturación.", en: "Passing you to billing."}
    inbound_form:
      - id: nombre
        label: Nombre
        type: text
        prefill_from_slot: customer_name
      - id: pedido_facturado
        label: Pedido facturado
        type: text
        prefill_from_slot: order_number
      - id: detalle
        label: Detalle
        type: paragraph
        prefill_from_slot: handoff_reason

"""


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


class Desk:
    """One browser: an agent's token and the API calls."""

    def __init__(self, server, token: str | None = None, agent: dict | None = None) -> None:
        self.server = server
        self.token = token
        self.agent = agent or {}

    @property
    def id(self) -> int:
        return self.agent["id"]

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = "mine", **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", {}))
        use = self.token if token == "mine" else token
        if use:
            headers["Authorization"] = f"Bearer {use}"
        if body is not None:
            kwargs["data"] = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        async with self.server.session.request(method, self.server.url + API + path, headers=headers, **kwargs) as response:
            raw = await response.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw
            return Answer(response.status, parsed, response.headers)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return await self.call("POST", path, {} if body is None else body, **kwargs)

    def ws_url(self) -> str:
        """The desk's WebSocket; the token goes in its first frame, never here."""
        return f"{self.server.url.replace('http', 'ws', 1)}/webhooks/desk/ws"

    @property
    def origin(self) -> str | None:
        """The ``Origin`` the desk's page on this server has: the desk's public origin, or
        the server's own address when it has none; None (no header, as a program connects)
        for a server this process does not run."""
        desk = getattr(self.server, "desk", None)
        if desk is None:
            return None
        return desk.origins.public_origin or self.server.url

    async def live(self):
        """A connected WebSocket, as the desk's page opens it: its Origin, then the auth
        frame, then its ``ready`` frame."""
        headers = {"Origin": self.origin} if self.origin else {}
        socket = await self.server.session.ws_connect(self.ws_url(), headers=headers)
        await socket.send_json(auth_frame(self.token))
        ready = await socket.receive_json(timeout=5)
        assert ready["type"] == "ready", ready
        return socket


def auth_frame(token: str | None) -> dict:
    """The first frame of the desk's WebSocket."""
    return {"type": "auth", "token": token}


async def make_account(server, username: str, role: str = "agent", campaigns=("soporte",), password: str = PASSWORD):
    return await create_account(
        server.runtime.service, username, password, display_name=username.title(), role=role, campaigns=list(campaigns)
    )


async def login(server, username: str, password: str = PASSWORD) -> Desk:
    desk = Desk(server)
    answer = await desk.call("POST", "/login", {"username": username, "password": password}, token=None)
    assert answer.status == 200, answer.body
    desk.token, desk.agent = answer.body["token"], answer.body["agent"]
    return desk


async def account(server, username: str, role: str = "agent", campaigns=("soporte",)) -> Desk:
    await make_account(server, username, role, campaigns)
    return await login(server, username)


async def handoff(server, customer_id: str = "6001", channel: str = "messenger", **extra: Any) -> dict:
    """A queued attention through the action server's service API (messenger: soporte,
    instagram: ventas)."""
    account_id = PAGE_ID if channel == "messenger" else IG_ACCOUNT_ID
    body = {
        "channel": channel,
        "account_id": account_id,
        "customer_id": customer_id,
        "intent": "request_human",
        "slots": {"customer_name": f"Cliente {customer_id}"},
        **extra,
    }
    async with server.session.post(
        server.url + "/webhooks/desk/service/attentions",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    ) as response:
        answer = await response.json()
        assert response.status in (200, 201), answer
    return answer["attention"]


async def customer_writes(
    server, text: str, customer_id: str = "6001", channel: str = "messenger", mid: str | None = None
) -> None:
    raw = with_mid(item(f"{channel}/text"), mid or f"m_{customer_id}_{abs(hash(text))}", sender=customer_id)
    raw["message"]["text"] = text
    await server.post(channel, envelope(channel, [raw]))
    await server.settle()


async def next_frame(socket, timeout: float = 5.0, skip: tuple = ("pong",)) -> dict:
    while True:
        frame = await socket.receive_json(timeout=timeout)
        if frame.get("type") not in skip:
            return frame


async def no_frame(socket, wait: float = 0.3) -> None:
    """Nothing arrives within ``wait`` seconds (a ping round trip proves the socket is alive)."""
    await asyncio.sleep(wait)
    await socket.send_json({"type": "ping"})
    frame = await socket.receive_json(timeout=5)
    assert frame == {"type": "pong"}, f"unexpected frame {frame}"


async def cancel_as_the_bot(server, attention_id: int) -> None:
    """What action_terminate_attention does when the customer gives up waiting."""
    url = f"{server.url}/webhooks/desk/service/attentions/{attention_id}/terminate"
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with server.session.post(url, json={"reason": "customer_cancelled"}, headers=headers) as response:
        assert response.status == 200, await response.text()
