"""Helpers of the reliability suite: the stand-in server as a subprocess that tests can
SIGKILL, signed webhook bodies, and readers of what the server left on disk."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from connectors.meta.channel import sign
from tests.e2e.rasa_server import free_port, product_environment

ROOT = Path(__file__).resolve().parents[2]

# Distinctive values: the secrets test searches every log line for them.
APP_SECRET = "rel-app-secret-5Qm7Zt9Xk2"
INSTAGRAM_SECRET = "rel-ig-secret-Hb4Lw8Pc3V"
VERIFY_TOKEN = "rel-verify-token-Jd6Ns1Rf0Y"
PAGE_TOKEN = "rel-page-token-Ug2Ke5Aq7W"
INSTAGRAM_TOKEN = "rel-ig-token-Tz8Mv3Ex6B"
SERVICE_TOKEN = "rel-service-token-Cy1Po4Gi9N"
APP_ID = "515151"
PAGE_ID = "100000000000001"
IG_ACCOUNT_ID = "17841400000000001"
SECRETS = {APP_SECRET, INSTAGRAM_SECRET, VERIFY_TOKEN, PAGE_TOKEN, INSTAGRAM_TOKEN, SERVICE_TOKEN}

OBJECTS = {"messenger": "page", "instagram": "instagram"}
ACCOUNTS = {"messenger": PAGE_ID, "instagram": IG_ACCOUNT_ID}
CHANNEL_SECRETS = {"messenger": APP_SECRET, "instagram": INSTAGRAM_SECRET}


def environment(graph_url: str, database_url: str) -> dict[str, str]:
    """The product's environment (as the end-to-end tests set it), with this suite's secrets."""
    env = product_environment(graph_url, database_url, free_port(), HANDOFF_SERVICE_TOKEN=SERVICE_TOKEN)
    env.update(
        META_APP_SECRET=APP_SECRET,
        INSTAGRAM_APP_SECRET=INSTAGRAM_SECRET,
        META_VERIFY_TOKEN=VERIFY_TOKEN,
        MESSENGER_PAGE_ACCESS_TOKEN=PAGE_TOKEN,
        INSTAGRAM_ACCESS_TOKEN=INSTAGRAM_TOKEN,
        META_APP_ID=APP_ID,
    )
    return env


class StandIn:
    """``tests/reliability/standin_server.py`` as a subprocess: start, kill -9, restart."""

    def __init__(
        self,
        directory: Path,
        graph_url: str,
        memory: str = "durable",
        crash: Sequence[str] = (),
        credentials: Mapping[str, Any] | None = None,
        turn: tuple[float, float] = (0.002, 0.02),
    ) -> None:
        self.directory = directory
        self.database = directory / "handoff.db"
        self.env = environment(graph_url, f"sqlite+aiosqlite:///{self.database}")
        self.memory = memory
        self.crash = list(crash)
        self.credentials = dict(credentials or {})
        self.turn = turn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "tests.reliability.standin_server",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.directory),
            "--memory",
            self.memory,
            "--turn-min",
            str(self.turn[0]),
            "--turn-max",
            str(self.turn[1]),
        ]
        for spec in self.crash:
            command += ["--crash", spec]
        for key, value in self.credentials.items():
            command += ["--credential", f"{key}={value}"]
        return command

    async def start(self, timeout: float = 60.0) -> StandIn:
        self.starts += 1
        # The child writes to its own copy of the descriptor: ours can close at once.
        with open(self.directory / f"server-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        await wait_until_up(f"{self.url}/webhooks/messenger/", self.process, timeout, self.logs)
        return self

    def kill(self) -> None:
        """SIGKILL: no listener runs, nothing is flushed; the inbox is all that is left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    async def wait_exit(self, timeout: float = 20.0) -> int:
        """For crash points: the process kills itself."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not die:\n{self.logs()[-3000:]}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.directory.glob("server-*.log")))

    # -- what the server left on disk ---------------------------------------------------

    def inbox(self) -> list[sqlite3.Row]:
        return query(self.database, "SELECT id, channel, dedup_key, state, error FROM inbox_item ORDER BY id")

    def unfinished(self) -> int:
        rows = query(self.database, "SELECT count(*) AS n FROM inbox_item WHERE state IN ('pending', 'handling')")
        return rows[0]["n"]

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until every inbox item is handled or failed."""
        deadline = time.monotonic() + timeout
        while self.unfinished():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.unfinished()} items still unfinished:\n{self.logs()[-3000:]}")
            await asyncio.sleep(0.1)

    def turn_log(self) -> collections.Counter[str]:
        """Completed bot turns by message id (the fsync'ed log of the stand-in)."""
        path = self.directory / "turns.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return collections.Counter(line.split()[2] for line in lines if line.strip())

    def tracker_turns(self) -> collections.Counter[str]:
        """User messages in the durable tracker store, by message id."""
        path = self.directory / "trackers.db"
        if not path.exists():
            return collections.Counter()
        rows = query(path, "SELECT data FROM events WHERE type_name = 'user'")
        return collections.Counter(json.loads(row["data"]).get("message_id") for row in rows)

    def attention_messages(self) -> collections.Counter[str]:
        """Customer messages stored in attentions, by mid."""
        rows = query(self.database, "SELECT mid FROM message WHERE direction = 'in' AND mid IS NOT NULL")
        return collections.Counter(row["mid"] for row in rows)


def query(database: Path, sql: str, *parameters: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, parameters).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise
    finally:
        connection.close()


async def wait_until_up(url: str, process: subprocess.Popen[bytes] | None, timeout: float, logs=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{logs()[-4000:]}")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up in {timeout}s:\n{logs()[-4000:]}")


# -- webhook bodies ------------------------------------------------------------------------


def text_item(channel: str, customer: str, mid: str, text: str = "hola", timestamp: int = 1_700_000_000_000) -> dict:
    account = ACCOUNTS[channel]
    return {
        "sender": {"id": customer},
        "recipient": {"id": account},
        "timestamp": timestamp,
        "message": {"mid": mid, "text": text},
    }


def postback_item(channel: str, customer: str, mid: str, payload: str = "/greet") -> dict:
    account = ACCOUNTS[channel]
    return {
        "sender": {"id": customer},
        "recipient": {"id": account},
        "timestamp": 1_700_000_000_000,
        "postback": {"mid": mid, "title": "Hola", "payload": payload},
    }


def body_of(channel: str, entries: Iterable[Sequence[Mapping[str, Any]]]) -> dict:
    """One webhook POST: one entry per group of messaging items."""
    return {
        "object": OBJECTS[channel],
        "entry": [{"id": ACCOUNTS[channel], "time": 1, "messaging": list(items)} for items in entries],
    }


def signed(channel: str, body: Mapping[str, Any] | bytes, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret or CHANNEL_SECRETS[channel])}
    return raw, headers


async def post(
    session: aiohttp.ClientSession,
    base_url: str,
    channel: str,
    body: Mapping[str, Any] | bytes,
    headers: Mapping[str, str] | None = None,
) -> int:
    raw, signed_headers = signed(channel, body)
    async with session.post(f"{base_url}/webhooks/{channel}/webhook", data=raw, headers=headers or signed_headers) as answer:
        await answer.read()
        return answer.status


async def create_attention(session: aiohttp.ClientSession, base_url: str, channel: str, customer: str) -> int:
    body = {
        "channel": channel,
        "account_id": ACCOUNTS[channel],
        "customer_id": customer,
        "intent": "request_human",
        "slots": {},
        "context": [],
    }
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with session.post(f"{base_url}/webhooks/desk/service/attentions", json=body, headers=headers) as answer:
        payload = await answer.json()
        assert answer.status in (200, 201), payload
        return payload["attention"]["id"]


class RealRasa:
    """The real ``rasa run --debug`` (our connectors, the trained model, ``endpoints.yml``:
    Rasa's in-memory tracker store) as a subprocess that tests can SIGKILL and restart.
    Every start writes its own log file: stdout and stderr together."""

    def __init__(self, directory: Path, graph_url: str, action_port: int | None = None) -> None:
        self.directory = directory
        self.database = directory / "handoff.db"
        self.env = environment(graph_url, f"sqlite+aiosqlite:///{self.database}")
        self.env.update(
            ACTION_SERVER_URL=f"http://127.0.0.1:{action_port or free_port()}/webhook",
            META_GRAPH_VERSION="v21.0",
            HANDOFF_SESSION_SECRET="rel-session-secret-Wq5Er8Ty1U",
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self, timeout: float = 180.0) -> RealRasa:
        self.starts += 1
        command = [
            str(Path(sys.executable).parent / "rasa"),
            "run",
            "--debug",
            "--port",
            str(self.port),
            "--credentials",
            "credentials.yml",
            "--endpoints",
            "endpoints.yml",
            "--model",
            "models",
        ]
        with open(self.directory / f"rasa-{self.starts}.log", "wb") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        await wait_until_up(f"{self.url}/webhooks/messenger/", self.process, timeout, self.logs)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.directory.glob("rasa-*.log")))

    def inbox(self) -> list[sqlite3.Row]:
        return query(self.database, "SELECT id, channel, dedup_key, state, error FROM inbox_item ORDER BY id")

    async def settle(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while any(row["state"] in ("pending", "handling") for row in self.inbox()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"inbox not drained:\n{self.logs()[-3000:]}")
            await asyncio.sleep(0.2)


def leaked(text: str, secrets: Iterable[str] = SECRETS) -> list[str]:
    """The secrets that appear in ``text`` (each with a little context)."""
    found = []
    for secret in secrets:
        at = text.find(secret)
        if at >= 0:
            found.append(f"{secret!r} in ...{text[max(0, at - 120) : at + len(secret) + 40]!r}")
    return found


class EveryField(logging.Handler):
    """Keeps every attribute of every record (extras such as Sanic's ``request`` too):
    whatever a formatter could print, configured here or by an operator."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []

    @property
    def lines(self) -> list[str]:
        return [line for _, line in self.records]

    def above(self, level: int) -> list[str]:
        """The lines of records more severe than ``level``."""
        return [line for levelno, line in self.records if levelno > level]

    def emit(self, record: logging.LogRecord) -> None:
        fields = {key: value for key, value in vars(record).items() if key not in ("args", "exc_info")}
        self.records.append((record.levelno, f"{record.getMessage()} {fields} {self.format(record) if record.exc_info else ''}"))


# Sanic's loggers do not propagate once Rasa has configured them (update_sanic_log_level).
SANIC_LOGGERS = ("sanic.access", "sanic.error", "sanic.root")


@contextlib.contextmanager
def every_log_record() -> Iterator[EveryField]:
    """An EveryField on the root logger and on Sanic's own loggers for the block."""
    handler = EveryField()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in SANIC_LOGGERS)]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
