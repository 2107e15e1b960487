"""Logs hold no secret at any level, and customer text and names only at DEBUG.

One whole story with every logger at DEBUG: the real Rasa server as ``rasa run --debug``
builds it (``credentials.yml``, the trained model, our channels and the desk), in this
process so that every record can be inspected; ``rasa run actions --debug`` beside it
(its guard called with its own bearer secret, as README's ``HANDOFF_ACTION_TOKEN`` set-up
describes); a fake Graph API on loopback. A customer on Messenger asks for a human and
gives a name and a reason; a supervisor made with the operators' command logs in and makes
an agent's account; the agent logs in with a password (and someone guesses one), opens the
live socket, reads and answers; the customer writes again; the form is saved; the
attention is terminated and the bot takes over again.

Then every record (all attributes, Sanic's extras included), stdout and stderr of this
process and of the accounts command are searched: no configured secret, password, scrypt
hash, session token or signature of one appears anywhere, and the customer's words and
name appear in no record above DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from rasa.core.utils import AvailableEndpoints
from rasa.utils.log_utils import configure_structlog
from sanic import Sanic

from sandbox.graph_api import FakeGraphAPI
from tests.desk.support import Desk, login
from tests.e2e.rasa_server import ROOT, free_port, require_trained_model
from tests.reliability.support import (
    APP_ID,
    IG_ACCOUNT_ID,
    INSTAGRAM_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    SECRETS,
    EveryField,
    body_of,
    environment,
    every_log_record,
    leaked,
    post,
    text_item,
    wait_until_up,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SESSION_SECRET = "rel-session-secret-Lx3Dv7Qa0Mzz-long-enough"  # 32+ bytes for HS256
ACTION_TOKEN = "rel-action-token-Fg6Yh2Bn5Kr"
PASSWORD = "rel-agent-password-Ow9Ic4Uj1S"
SUPERVISOR_PASSWORD = "rel-supervisor-password-Zq5Wd3Hs8E"
WRONG_PASSWORD = "rel-wrong-password-Pe2Vb8Nc6T"
CUSTOMER = "7441000000000001"
# Distinctive words: found in a log line only if that line carries the customer's text.
NAME = "Zuleika Quintanar"
REASON = "mi factura Xochimilco-4471 llegó duplicada"
LATER = "sigo esperando Tlacotalpan-9012"
AGENT_REPLY = "Hola Zuleika, reviso la factura Xochimilco-4471"
CUSTOMER_WORDS = ("Zuleika", "Quintanar", "Xochimilco", "Tlacotalpan")
LOGGERS_AT_DEBUG = ("rasa", "rasa_sdk", "sanic", "sqlalchemy", "aiohttp", "handoff", "connectors", "actions", "asyncio")


class RasaAndActions:
    """``rasa run`` as its command builds it, served on this loop (Sanic's own start-up
    steps, as tests/connectors/harness.py does), and ``rasa run actions`` as a process."""

    def __init__(self, tmp_path: Path, graph_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.database = tmp_path / "handoff.db"
        self._listening = _listening()
        self.url = f"http://127.0.0.1:{self._listening.getsockname()[1]}"
        self.action_port = free_port()
        self.actions_log = tmp_path / "actions.log"
        self._actions: subprocess.Popen[bytes] | None = None
        self._server: Any = None
        self.env = environment(graph_url, f"sqlite+aiosqlite:///{self.database}")
        self.env.update(
            ACTION_SERVER_URL=f"http://127.0.0.1:{self.action_port}/webhook",
            META_GRAPH_VERSION="v21.0",
            HANDOFF_SESSION_SECRET=SESSION_SECRET,
            HANDOFF_ACTION_TOKEN=ACTION_TOKEN,
            HANDOFF_SERVICE_URL=f"{self.url}/webhooks/desk/service",
            LOG_LEVEL="DEBUG",
        )
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        # The shipped endpoints.yml with the separate action secret README describes.
        shipped = (ROOT / "endpoints.yml").read_text()
        assert "Bearer ${HANDOFF_SERVICE_TOKEN}" in shipped
        self.endpoints_file = tmp_path / "endpoints.yml"
        self.endpoints_file.write_text(shipped.replace("Bearer ${HANDOFF_SERVICE_TOKEN}", "Bearer ${HANDOFF_ACTION_TOKEN}"))

    async def start(self) -> None:
        # Imported here: it loads TensorFlow, which must not happen while pytest collects
        # (other tests' fd capture breaks after that).
        from rasa.core import run as rasa_run

        # The action server in its own process, as operators run it: two Sanic apps in one
        # process share compiled signal routes (Sanic 21.12), and the desk uses a signal.
        command = [
            str(Path(sys.executable).parent / "rasa"),
            "run",
            "actions",
            "--debug",
            "--port",
            str(self.action_port),
            "--actions",
            "actions",
        ]
        with open(self.actions_log, "wb") as log:
            self._actions = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        Sanic.test_mode = True  # the app's name may already be registered by another test
        endpoints = AvailableEndpoints.read_endpoints(str(self.endpoints_file))
        channels = rasa_run.create_http_input_channels(None, str(ROOT / "credentials.yml"))
        app = rasa_run.configure_app(channels, enable_api=False, endpoints=endpoints)
        app.register_listener(partial(rasa_run.load_agent_on_start, str(ROOT / "models"), endpoints, None), "before_server_start")
        app.register_listener(rasa_run.close_resources, "after_server_stop")
        self._server = await app.create_server(sock=self._listening, return_asyncio_server=True)
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()
        await wait_until_up(f"http://127.0.0.1:{self.action_port}/health", self._actions, 60, self.action_server_output)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.before_stop()
            self._server.close()
            await self._server.wait_closed()
            await self._server.after_stop()
        if self._actions is not None:
            self._actions.terminate()
            try:
                self._actions.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._actions.kill()

    def action_server_output(self) -> str:
        return self.actions_log.read_text(errors="replace") if self.actions_log.exists() else ""

    def scrypt_hash(self, username: str) -> str:
        engine = sa.create_engine(f"sqlite:///{self.database}")
        try:
            with engine.connect() as connection:
                return connection.execute(
                    sa.text("SELECT password_hash FROM agent WHERE username = :u"), {"u": username}
                ).scalar_one()
        finally:
            engine.dispose()


def _listening() -> socket.socket:
    # Bound before the action server starts, which is told the Rasa server's URL.
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    return listening


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[EveryField]:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS_AT_DEBUG:
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("sanic.access", "sanic.error", "sanic.root"):
        caplog.set_level(logging.DEBUG, logger=name)
    with every_log_record() as handler:
        yield handler


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"},
        app_id=APP_ID,
        page_id=PAGE_ID,
        ig_account_id=IG_ACCOUNT_ID,
        emit_echoes=False,
        emit_deliveries=False,
    ) as api:
        api.add_profile(CUSTOMER, name=NAME, first_name="Zuleika", last_name="Quintanar")
        yield api


def text_of(message: dict) -> str:
    return message.get("text") or message.get("attachment", {}).get("payload", {}).get("text", "")


async def test_a_whole_story_at_debug_logs_no_secret_and_customer_words_only_at_debug(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    graph: FakeGraphAPI,
    records: EveryField,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    require_trained_model()
    configure_structlog(logging.DEBUG)  # as `rasa run --debug` does: Rasa's structured events go to logging
    product = RasaAndActions(tmp_path, graph.url, monkeypatch)
    # The supervisor's account, made with the operators' command (password on stdin); she
    # makes the agent's on the desk, so a password is hashed and stored in this process.
    command = subprocess.run(
        [
            sys.executable,
            "-m",
            "connectors.desk.accounts",
            "add",
            "sofia",
            "--name",
            "Sofía",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        input=SUPERVISOR_PASSWORD.encode(),
        cwd=ROOT,
        env=product.env,
        capture_output=True,
        check=True,
    )
    outputs = [command.stdout.decode(errors="replace"), command.stderr.decode(errors="replace")]
    turns = 0
    await product.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def says(text: str) -> None:
                nonlocal turns
                turns += 1
                body = body_of("messenger", [[text_item("messenger", CUSTOMER, f"m_hygiene_{turns}", text)]])
                assert await post(session, product.url, "messenger", body) == 200

            async def replies(count: int) -> list[str]:
                await graph.wait_for_messages(count, timeout=60, recipient_id=CUSTOMER)
                return [text_of(record.json["message"]) for record in graph.sent_messages(recipient_id=CUSTOMER)]

            await says("quiero hablar con una persona")
            assert "cómo te llamas" in (await replies(1))[-1]
            await says(NAME)
            await replies(2)
            await says(REASON)
            assert (await replies(3))[-1].startswith("Te comunico con una persona")

            server = SimpleNamespace(session=session, url=product.url)  # what tests/desk/support.py's Desk uses
            supervisor = await login(server, "sofia", SUPERVISOR_PASSWORD)
            made = await supervisor.post(
                "/agents", {"username": "ana", "password": PASSWORD, "display_name": "Ana", "campaigns": ["soporte"]}
            )
            assert made.status == 201, made.body
            desk: Desk = await login(server, "ana", PASSWORD)
            guess = await desk.call("POST", "/login", {"username": "ana", "password": WRONG_PASSWORD}, token=None)
            assert guess.status == 401, guess.body  # a refused login is logged too
            live = await desk.live()
            listing = await desk.get("/attentions?channel=messenger")
            [attention] = [a for a in listing.body["attentions"] if a["customer"]["id"] == CUSTOMER]
            attention_id = attention["id"]
            detail = await desk.get(f"/attentions/{attention_id}")
            assert detail.body["attention"]["form"]["nombre"] == NAME, detail.body
            assert (await desk.post(f"/attentions/{attention_id}/open")).status == 200
            sent = await desk.post(f"/attentions/{attention_id}/messages", {"text": AGENT_REPLY})
            assert sent.status == 201, sent.body
            assert (await replies(4))[-1] == AGENT_REPLY
            await says(LATER)
            await _until(lambda: _customer_texts(desk, attention_id), lambda texts: LATER in texts)
            saved = await desk.call(
                "PUT",
                f"/attentions/{attention_id}/form",
                {"values": {"numero_pedido": "XO-4471", "motivo": f"{REASON} (revisado)"}},
            )
            assert saved.status == 200, saved.body
            ended = await desk.post(f"/attentions/{attention_id}/terminate", {"values": {"resultado": "resuelto"}})
            assert ended.status == 200 and ended.body["attention"]["state"] == "terminated", ended.body
            follow_up = await replies(6)
            assert follow_up[4].startswith("Gracias por escribirnos")
            await live.close()
            hashes = [product.scrypt_hash(name) for name in ("sofia", "ana")]
            tokens = [token for token in (supervisor.token, desk.token) if token is not None]
    finally:
        await product.stop()

    captured = capfd.readouterr()
    actions = product.action_server_output()
    everything = "\n".join([caplog.text, *records.lines, captured.out, captured.err, actions, *outputs])
    assert len(records.lines) > 500 and any("Zuleika" in line and "rasa.core" in line for line in records.lines)
    assert all(value.startswith("scrypt$") for value in hashes) and len(tokens) == 2 and all(tokens)
    forbidden = SECRETS | {SESSION_SECRET, ACTION_TOKEN, PASSWORD, SUPERVISOR_PASSWORD, WRONG_PASSWORD}
    forbidden |= {part for value in hashes for part in (value, value.rsplit("$", 1)[1])}  # the key alone too
    forbidden |= {part for token in tokens for part in (token, token.rsplit(".", 1)[1])}  # the signature alone too
    assert leaked(everything, forbidden) == []
    # The customer's words are there at DEBUG (the check can find them), and only there.
    assert all(word in "\n".join(records.lines) for word in CUSTOMER_WORDS)
    assert "Received request to run 'action_handoff'" in actions  # its DEBUG output is there
    above_debug = "\n".join([*records.above(logging.DEBUG), *printed_above_debug(actions)])
    assert leaked(above_debug, CUSTOMER_WORDS) == []


# A record printed by `rasa run actions`: coloredlogs' "2026-01-01 10:00:00 INFO     name  - ..."
# or Sanic's "[2026-01-01 10:00:00 +0000] - (sanic.access)[INFO][...]"; other lines continue it.
PRINTED_RECORD = re.compile(r"^(?:\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) |\[\d{4}-[^]]+\] - \([\w.]+\)\[(?P<sanic>[A-Z]+)\])")


def printed_above_debug(output: str) -> list[str]:
    """The records of a process's printed log that are more severe than DEBUG."""
    found: list[str] = []
    keep = False
    for line in output.splitlines():
        start = PRINTED_RECORD.match(line)
        if start:
            keep = (start["level"] or start["sanic"]) != "DEBUG"
        if keep:
            found.append(line)
    return found


async def _customer_texts(desk: Desk, attention_id: int) -> list[str]:
    detail = await desk.get(f"/attentions/{attention_id}")
    return [message.get("text") for message in detail.body["messages"]]


async def _until(read, done, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(value := await read()):
        assert asyncio.get_running_loop().time() < deadline, value
        await asyncio.sleep(0.1)
