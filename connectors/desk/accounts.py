"""Desk accounts: agents' and supervisors' passwords, session tokens, and the command that
manages accounts.

- Passwords are hashed with scrypt (stdlib ``hashlib.scrypt``), a per-user random salt, and
  the parameters kept in the hash string (``scrypt$n$r$p$salt$key``), so they can be raised
  later without breaking old hashes. Verification is constant-time.
- Sessions are HS256 JSON Web Tokens (PyJWT) signed with the desk's ``session_secret``.
  They expire (12 h by default) and carry a fingerprint of the password hash: a new
  password ends every older session. Whether the agent is still active is checked on
  every request (``connectors.desk.auth``), not here.

Command line (works on ``HANDOFF_DATABASE_URL``, migrating it first)::

    python -m connectors.desk.accounts add USERNAME --name "Ana Pérez" [--role supervisor] [--campaigns soporte,ventas]
    python -m connectors.desk.accounts passwd USERNAME
    python -m connectors.desk.accounts deactivate USERNAME | activate USERNAME
    python -m connectors.desk.accounts campaigns USERNAME soporte,ventas
    python -m connectors.desk.accounts list
    python -m connectors.desk.accounts demo      # sandbox: the demo accounts, printed

Passwords are asked for twice on a terminal, or read from the first line of standard input
with ``--password-stdin`` (never from the command line, where ``ps`` would show them).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.storage.records import SqlStorage
from handoff.error_codes import ErrorCode
from handoff.errors import InvalidRequest, NotFound
from handoff.model import Agent, Role
from handoff.service import HandoffService

# -- passwords -------------------------------------------------------------------------------

SCRYPT_N = 2**14  # CPU/memory cost: ~16 MiB and some tens of milliseconds per hash
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
# A stored hash asking for more than this is refused rather than computed (a tampered row
# must not make the server burn memory).
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _password_bytes(password: str) -> bytes:
    # The same password typed on another keyboard (composed or decomposed accents) matches.
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * r * (n + p + 2)
    return hashlib.scrypt(_password_bytes(password), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=memory + 1024 * 1024)


def check_password_policy(password: Any) -> str:
    """The password if it is acceptable; InvalidRequest (422) saying why when not."""
    if not isinstance(password, str):
        raise InvalidRequest("the password must be a text", code=ErrorCode.PASSWORD_NOT_TEXT)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            code=ErrorCode.PASSWORD_TOO_SHORT,
            min=MIN_PASSWORD_LENGTH,
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password may have at most {MAX_PASSWORD_LENGTH} characters",
            code=ErrorCode.PASSWORD_TOO_LONG,
            max=MAX_PASSWORD_LENGTH,
        )
    return password


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in unpadded URL-safe base64)."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, n, r, p, KEY_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches the stored hash; False for a missing or malformed hash."""
    if not stored or not isinstance(password, str):
        return False
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = _unb64(salt_text), _unb64(key_text)
    except (ValueError, TypeError):
        return False
    if scheme != "scrypt" or n < 2 or n & (n - 1) or not (0 < r <= 64 and 0 < p <= 16) or 128 * r * n > _MAX_SCRYPT_MEMORY:
        return False
    if not expected or len(expected) > 128:
        return False
    try:
        given = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(given, expected)


# Verified against when the username does not exist, so that an unknown user takes as long
# to refuse as a wrong password (no user enumeration by timing).
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def verify_or_waste_time(password: str, stored: str | None) -> bool:
    return verify_password(password, stored or _DUMMY_HASH) and stored is not None


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash, put in session tokens: a new password changes it
    and so ends the sessions made with the old one. Reveals nothing usable."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


# -- session tokens ---------------------------------------------------------------------------

DEFAULT_SESSION_LIFETIME = timedelta(hours=12)
TOKEN_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "handoff-desk"


class InvalidSession(Exception):
    """No token, or an expired, forged or malformed one (401); ``code`` says which for the page."""

    def __init__(self, message: str, code: str = ErrorCode.AUTH_UNAUTHORIZED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class IssuedSession:
    token: str = field(repr=False)  # a repr may end up in a log line
    expires_at: datetime
    session_id: str


@dataclass(frozen=True)
class SessionClaims:
    agent_id: int
    session_id: str
    expires_at: datetime
    password: str  # password_fingerprint at login


class SessionTokens:
    """Signs and checks the desk's session tokens."""

    def __init__(self, secret: str, lifetime: timedelta = DEFAULT_SESSION_LIFETIME) -> None:
        if not secret:
            raise ValueError("a session secret is required")
        self._secret = secret
        self.lifetime = lifetime

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"SessionTokens(lifetime={self.lifetime})"

    def issue(self, agent: Agent, password_hash: str | None, now: datetime | None = None) -> IssuedSession:
        issued_at = now or datetime.now(timezone.utc)
        expires_at = issued_at + self.lifetime
        session_id = uuid.uuid4().hex
        claims = {
            "sub": str(agent.id),
            "aud": TOKEN_AUDIENCE,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": session_id,
            "pwd": password_fingerprint(password_hash),
        }
        token = jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)
        return IssuedSession(token, datetime.fromtimestamp(int(expires_at.timestamp()), timezone.utc), session_id)

    def read(self, token: str | None) -> SessionClaims:
        if not token:
            raise InvalidSession("a session token is required")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                options={"require": ["sub", "exp", "iat", "jti", "aud"]},
            )
            return SessionClaims(
                agent_id=int(claims["sub"]),
                session_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), timezone.utc),
                password=str(claims.get("pwd", "")),
            )
        except jwt.ExpiredSignatureError:
            raise InvalidSession("the session has expired; log in again", ErrorCode.AUTH_SESSION_ENDED) from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidSession("the session token is not valid") from None


def random_session_secret() -> str:
    return secrets.token_urlsafe(48)


# -- account operations (the supervisor API and the command line) ---------------------------

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,149}$")


def normalize_username(username: Any) -> str:
    if not isinstance(username, str):
        raise InvalidRequest("the username must be a text", code=ErrorCode.USERNAME_INVALID)
    cleaned = username.strip().lower()
    if not USERNAME_PATTERN.match(cleaned):
        raise InvalidRequest(
            "a username has 2 to 150 characters: letters a-z, digits, '.', '_' or '-'", code=ErrorCode.USERNAME_INVALID
        )
    return cleaned


async def hash_in_thread(password: str) -> str:
    """Hashing takes tens of milliseconds of CPU: off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def create_account(
    service: HandoffService,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    role: Role | str = Role.AGENT,
    campaigns: Iterable[str] = (),
) -> Agent:
    username = normalize_username(username)
    check_password_policy(password)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidRequest("the role is 'agent' or 'supervisor'", code=ErrorCode.ROLE_INVALID) from None
    name = (display_name or "").strip() or username
    return await service.agents.add(username, name, role, list(campaigns), password_hash=await hash_in_thread(password))


async def change_password(service: HandoffService, agent_id: int, password: str) -> Agent:
    check_password_policy(password)
    return await service.agents.set_password(agent_id, await hash_in_thread(password))


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str = field(repr=False)  # a repr may end up in a log line
    role: Role
    display_name: str
    agent: Agent | None = None
    password_works: bool = True  # False: someone changed the demo password since


DEMO_ACCOUNTS = (
    ("supervisora", "demo-supervisora", Role.SUPERVISOR, "Supervisora Demo"),
    ("agente1", "demo-agente1", Role.AGENT, "Agente Uno"),
    ("agente2", "demo-agente2", Role.AGENT, "Agente Dos"),
)


async def ensure_demo_accounts(service: HandoffService) -> list[DemoAccount]:
    """The sandbox's accounts, created when missing (never changed when present): a
    supervisor and two agents of every campaign of the campaigns file."""
    campaigns = sorted(service.campaigns.campaigns)
    accounts = []
    for username, password, role, display_name in DEMO_ACCOUNTS:
        found = await service.agents.credentials(username=username)
        if found is None:
            try:
                agent = await create_account(
                    service,
                    username,
                    password,
                    display_name=display_name,
                    role=role,
                    campaigns=[] if role is Role.SUPERVISOR else campaigns,
                )
            except InvalidRequest:  # another process created it a moment ago
                found = await service.agents.credentials(username=username)
                if found is None:
                    raise
            else:
                accounts.append(DemoAccount(username, password, role, display_name, agent, True))
                continue
        agent, stored = found
        works = agent.active and await asyncio.to_thread(verify_password, password, stored)
        accounts.append(DemoAccount(username, password, role, display_name, agent, works))
    return accounts


# -- command line ----------------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Contraseña / password: ")
    second = getpass.getpass("Repítela / again: ")
    if first != second:
        raise InvalidRequest("the two passwords differ", code=ErrorCode.PASSWORDS_DIFFER)
    return first


def _campaign_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


async def _service(engine: AsyncEngine) -> HandoffService:
    from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, load_campaigns

    campaigns = load_campaigns(os.environ.get("HANDOFF_CAMPAIGNS") or DEFAULT_CAMPAIGNS_PATH)
    return HandoffService(SqlStorage(engine), campaigns)


async def _by_username(service: HandoffService, username: str) -> Agent:
    found = await service.agents.by_username(normalize_username(username))
    if found is None:
        raise NotFound("agent", username)
    return found


def _describe(agent: Agent) -> str:
    campaigns = ", ".join(agent.campaigns) if agent.campaigns else ("todas" if agent.is_supervisor else "-")
    state = "" if agent.active else "  [desactivada]"
    return f"{agent.id:>4}  {agent.username:<20} {agent.role.value:<11} {agent.display_name}  ({campaigns}){state}"


def print_demo_accounts(accounts: Sequence[DemoAccount], desk_url: str | None = None) -> None:
    if desk_url:
        print(f"  Escritorio de agentes  {desk_url}")
    print("  usuario / contraseña")
    for account in accounts:
        role = "supervisora" if account.role is Role.SUPERVISOR else "agente"
        note = "" if account.password_works else "   (contraseña cambiada o cuenta desactivada)"
        print(f"    {account.username} / {account.password}   ({role}){note}")


async def _run(arguments: argparse.Namespace) -> int:
    from connectors.storage.db import open_database

    engine = await open_database()
    try:
        service = await _service(engine)
        if arguments.command == "add":
            password = _read_password(arguments.password_stdin)
            agent = await create_account(
                service,
                arguments.username,
                password,
                display_name=arguments.name,
                role=arguments.role,
                campaigns=_campaign_list(arguments.campaigns),
            )
            print(f"created: {_describe(agent)}")
        elif arguments.command == "passwd":
            agent = await _by_username(service, arguments.username)
            await change_password(service, agent.id, _read_password(arguments.password_stdin))
            print(f"password changed for {agent.username}; their open sessions have ended")
        elif arguments.command in ("deactivate", "activate"):
            agent = await _by_username(service, arguments.username)
            agent = await service.agents.set_active(agent.id, arguments.command == "activate")
            if not agent.active:
                await service.presence.left(agent.id)
            print(f"{arguments.command}d: {_describe(agent)}")
        elif arguments.command == "campaigns":
            agent = await _by_username(service, arguments.username)
            agent = await service.agents.set_campaigns(agent.id, _campaign_list(arguments.campaigns))
            print(f"campaigns set: {_describe(agent)}")
        elif arguments.command == "list":
            for agent in await service.agents.all():
                print(_describe(agent))
        elif arguments.command == "demo":
            public = (os.environ.get("HANDOFF_PUBLIC_URL") or "http://127.0.0.1:5005").rstrip("/")
            print_demo_accounts(await ensure_demo_accounts(service), f"{public}/webhooks/desk/")
        return 0
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.desk.accounts",
        description="Manage the agent desk's accounts in the handoff database (HANDOFF_DATABASE_URL).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an agent or a supervisor")
    add.add_argument("username")
    add.add_argument("--name", help="the name agents and supervisors see (default: the username)")
    add.add_argument("--role", choices=[role.value for role in Role], default=Role.AGENT.value)
    add.add_argument("--campaigns", help="comma-separated campaign ids, e.g. soporte,ventas")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    passwd = commands.add_parser("passwd", help="set a new password (ends the account's sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    for name, text in (
        ("deactivate", "stop an account from logging in (at once, sessions included)"),
        ("activate", "let a deactivated account log in again"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("username")
    campaigns = commands.add_parser("campaigns", help="set the campaigns an agent serves")
    campaigns.add_argument("username")
    campaigns.add_argument("campaigns", help="comma-separated campaign ids ('' for none)")
    commands.add_parser("list", help="list every account")
    commands.add_parser("demo", help="create the sandbox's demo accounts when missing and print them")
    arguments = parser.parse_args(argv)
    try:
        return asyncio.run(_run(arguments))
    except (InvalidRequest, NotFound) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
