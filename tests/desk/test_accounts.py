"""Accounts: password hashes, session tokens, the supervisor API, the command line and the
sandbox's demo accounts."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.desk import accounts
from connectors.desk.accounts import (
    InvalidSession,
    SessionTokens,
    ensure_demo_accounts,
    hash_password,
    verify_password,
)
from connectors.storage.db import create_engine, migrate
from connectors.storage.records import SqlStorage
from handoff.campaigns import load_campaigns
from handoff.model import Agent, Role
from handoff.service import HandoffService
from tests.desk.support import PASSWORD, Desk, account, login

ROOT = Path(__file__).resolve().parents[2]


def test_passwords_are_salted_scrypt_hashes_checked_in_constant_time():
    first, second = hash_password("contraseña"), hash_password("contraseña")
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert verify_password("contraseña", first) and verify_password("contraseña", second)
    assert not verify_password("contrasena", first)
    # Composed and decomposed accents are the same password.
    assert verify_password("contrasen\u0303a", first)
    cheap = hash_password("x" * 8, n=2**4)
    assert cheap.startswith("scrypt$16$") and verify_password("x" * 8, cheap)
    for broken in (
        None,
        "",
        "plain",
        "scrypt$nope",
        "bcrypt$1$2$3$4$5",
        "scrypt$1024$8$1$!!$!!",
        "scrypt$33554432$8$1$AAAA$AAAA",
    ):
        assert not verify_password("x", broken)


def test_session_tokens_expire_and_cannot_be_forged():
    agent = Agent(7, "ana", "Ana", Role.AGENT, ("soporte",))
    tokens = SessionTokens("a-long-enough-secret-for-the-tests-0123456789")
    issued = tokens.issue(agent, "scrypt$hash")
    claims = tokens.read(issued.token)
    assert claims.agent_id == 7 and claims.session_id == issued.session_id
    assert claims.password == accounts.password_fingerprint("scrypt$hash") != accounts.password_fingerprint("other")
    with pytest.raises(InvalidSession):
        SessionTokens("another-secret-entirely-0123456789abcdef").read(issued.token)
    expired = SessionTokens("a-long-enough-secret-for-the-tests-0123456789", lifetime=timedelta(seconds=-5))
    with pytest.raises(InvalidSession, match="expired"):
        tokens.read(expired.issue(agent, None).token)
    with pytest.raises(InvalidSession):
        tokens.read("")
    assert "secret" not in repr(tokens)


async def test_supervisors_manage_accounts(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    created = await boss.post(
        "/agents", {"username": "Nuevo", "password": "clave-nueva-1", "display_name": "Nuevo Agente", "campaigns": ["ventas"]}
    )
    assert created.status == 201
    agent = created.body["agent"]
    assert agent == {
        "id": agent["id"],
        "username": "nuevo",
        "display_name": "Nuevo Agente",
        "role": "agent",
        "campaigns": ["ventas"],
        "active": True,
    }
    assert (await login(server, "nuevo", "clave-nueva-1")).agent["id"] == agent["id"]
    assert (await boss.post("/agents", {"username": "nuevo", "password": "clave-nueva-1"})).status == 422
    assert (await boss.post("/agents", {"username": "corto", "password": "corta"})).status == 422
    assert (await boss.post("/agents", {"username": "x y", "password": "clave-nueva-1"})).status == 422
    assert (await boss.post("/agents", {"username": "otro", "password": "clave-nueva-1", "campaigns": ["nada"]})).status == 422
    assert (await boss.post("/agents", {"username": "otra", "password": "clave-nueva-1", "role": "admin"})).status == 422

    listed = await boss.get("/agents")
    assert [item["username"] for item in listed.body["agents"]] == ["jefa", "nuevo"]

    changed = await boss.call(
        "PATCH", f"/agents/{agent['id']}", {"display_name": "Nuevo Nombre", "campaigns": ["soporte", "ventas"]}
    )
    assert changed.status == 200
    assert changed.body["agent"]["display_name"] == "Nuevo Nombre" and changed.body["agent"]["campaigns"] == ["soporte", "ventas"]
    assert (await boss.call("PATCH", f"/agents/{agent['id']}", {"campaigns": ["nada"], "display_name": "X"})).status == 422
    unchanged = {item["username"]: item for item in (await boss.get("/agents")).body["agents"]}["nuevo"]
    assert unchanged["display_name"] == "Nuevo Nombre"  # nothing half-applied
    assert (await boss.call("PATCH", f"/agents/{agent['id']}", {"password": "corta"})).status == 422
    assert (await boss.call("PATCH", f"/agents/{agent['id']}", {"role": "supervisor"})).status == 400
    assert (await boss.call("PATCH", "/agents/9999", {"active": False})).status == 404
    assert (await boss.call("PATCH", f"/agents/{boss.id}", {"active": False})).status == 422
    reactivated = await boss.call("PATCH", f"/agents/{agent['id']}", {"active": False})
    assert reactivated.body["agent"]["active"] is False
    assert (await boss.call("PATCH", f"/agents/{agent['id']}", {"active": True})).body["agent"]["active"] is True
    assert (await login(server, "nuevo", "clave-nueva-1")).token


async def test_campaigns_are_listed_for_everyone(server):
    ana = await account(server, "ana")
    answer = await ana.get("/campaigns")
    assert {item["id"] for item in answer.body["campaigns"]} == {"soporte", "ventas"}


async def test_the_sandbox_demo_accounts(server):
    service = server.runtime.service
    created = await ensure_demo_accounts(service)
    assert [(a.username, a.role.value) for a in created] == [
        ("supervisora", "supervisor"),
        ("agente1", "agent"),
        ("agente2", "agent"),
    ]
    assert all(a.password_works for a in created)
    for demo in created:
        desk = await login(server, demo.username, demo.password)
        assert desk.agent["role"] == demo.role.value
    agente1 = await login(server, "agente1", "demo-agente1")
    assert agente1.agent["campaigns"] == ["soporte", "ventas"]
    await service.agents.set_password(agente1.id, hash_password("cambiada-123"))
    again = await ensure_demo_accounts(service)  # idempotent; never resets a changed password
    ids = [a.agent.id for a in again if a.agent is not None]
    assert len(ids) == len(again) and ids == [a.agent.id for a in created if a.agent is not None]
    assert [a.password_works for a in again] == [True, False, True]


def _subprocess(database_url: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HANDOFF_DATABASE_URL": database_url, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "connectors.desk.accounts", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def test_the_account_command(tmp_path, monkeypatch, capsys):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("HANDOFF_DATABASE_URL", database_url)
    monkeypatch.chdir(ROOT)

    def cli(*arguments: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = accounts.main(list(arguments))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = cli(
        "add", "Marta", "--name", "Marta Ruiz", "--campaigns", "soporte,ventas", "--password-stdin", stdin="clave-de-marta\n"
    )
    assert code == 0 and "marta" in out and "soporte, ventas" in out, out
    assert cli("add", "marta", "--password-stdin", stdin="clave-de-marta\n")[0] == 1
    assert cli("add", "pepe", "--password-stdin", stdin="corta\n") == (1, "error: the password needs at least 8 characters\n")
    assert cli("add", "sofia", "--role", "supervisor", "--password-stdin", stdin="clave-de-sofia\n")[0] == 0
    assert cli("passwd", "marta", "--password-stdin", stdin="otra-clave-marta\n")[0] == 0
    assert cli("deactivate", "marta")[0] == 0
    assert cli("passwd", "nadie", "--password-stdin", stdin="x" * 10 + "\n")[0] == 1
    code, out = cli("campaigns", "sofia", "ventas")
    assert code == 0 and "(ventas)" in out

    # As the operator runs it, in its own process.
    listed = _subprocess(database_url, "list")
    assert listed.returncode == 0 and "desactivada" in listed.stdout and "sofia" in listed.stdout, listed.stderr
    demo = _subprocess(database_url, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "usuario / contraseña" in demo.stdout
    assert "supervisora / demo-supervisora" in demo.stdout and "agente2 / demo-agente2" in demo.stdout

    async def check() -> None:
        engine = create_engine(database_url)
        await migrate(engine)
        service = HandoffService(SqlStorage(engine), load_campaigns(ROOT / "data" / "campaigns.yml"))
        credentials = await service.agents.credentials(username="marta")
        assert credentials is not None
        marta, stored = credentials
        assert not marta.active and marta.display_name == "Marta Ruiz" and marta.campaigns == ("soporte", "ventas")
        assert verify_password("otra-clave-marta", stored)
        await engine.dispose()

    asyncio.run(check())


def test_the_password_is_read_from_stdin_without_a_newline(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("clave con espacios \r\n"))
    assert accounts._read_password(True) == "clave con espacios "


async def test_demo_passwords_are_printed(capsys):
    accounts.print_demo_accounts(
        [accounts.DemoAccount("agente1", "demo-agente1", Role.AGENT, "Agente Uno")], "http://x/webhooks/desk/"
    )
    printed = capsys.readouterr().out
    assert "http://x/webhooks/desk/" in printed and "agente1 / demo-agente1" in printed


async def test_login_is_refused_for_an_account_without_password(server):
    await server.runtime.service.agents.add("sinclave", "Sin Clave", "agent", ["soporte"])
    answer = await Desk(server).call("POST", "/login", {"username": "sinclave", "password": PASSWORD}, token=None)
    assert answer.status == 401
