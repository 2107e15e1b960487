"""Login, logout, me; what makes a session invalid (401) and the login rate limit (429)."""

from __future__ import annotations

import time

import jwt
import pytest

from connectors.desk.accounts import TOKEN_AUDIENCE
from tests.connectors.harness import running_connectors
from tests.desk.support import PASSWORD, SESSION_SECRET, Desk, account, login, make_account


async def test_login_me_and_logout(server):
    await make_account(server, "ana", campaigns=["soporte", "ventas"])
    desk = await login(server, "ana")
    assert desk.agent == {
        "id": desk.id,
        "username": "ana",
        "display_name": "Ana",
        "role": "agent",
        "campaigns": ["soporte", "ventas"],
        "active": True,
    }
    me = await desk.get("/me")
    assert me.status == 200 and me.body["agent"]["username"] == "ana"
    out = await desk.post("/logout")
    assert out.status == 204
    again = await desk.get("/me")
    assert again.status == 401 and again.headers["WWW-Authenticate"].startswith("Bearer")


async def test_usernames_are_not_case_sensitive(server):
    await make_account(server, "Luis.Perez")
    desk = await login(server, "  LUIS.perez ")
    assert desk.agent["username"] == "luis.perez"


async def test_wrong_credentials_are_401_and_say_nothing_more(server):
    await make_account(server, "ana")
    anonymous = Desk(server)
    wrong = await anonymous.call("POST", "/login", {"username": "ana", "password": "nope-nope"}, token=None)
    unknown = await anonymous.call("POST", "/login", {"username": "nadie", "password": PASSWORD}, token=None)
    assert wrong.status == unknown.status == 401
    assert wrong.body["error"] == unknown.body["error"]
    assert "token" not in wrong.body
    missing = await anonymous.call("POST", "/login", {"username": "ana"}, token=None)
    assert missing.status == 400


async def test_five_failures_per_minute_lock_the_username_from_that_address(server):
    await make_account(server, "ana")
    await make_account(server, "bea")
    anonymous = Desk(server)
    for _ in range(5):
        assert (await anonymous.call("POST", "/login", {"username": "ana", "password": "wrong-one"}, token=None)).status == 401
    locked = await anonymous.call("POST", "/login", {"username": "ana", "password": PASSWORD}, token=None)
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert (await login(server, "bea")).token  # another username is not locked


async def test_no_token_a_forged_one_or_a_malformed_one_is_401(server):
    desk = await account(server, "ana")
    assert desk.token is not None
    claims = jwt.decode(desk.token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "sub": "999"}, "another-secret-of-an-attacker-long-enough", algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")  # PyJWT reads "" as no key
    for token in (None, forged, unsigned, "not-a-jwt", desk.token + "x"):
        answer = await desk.get("/attentions", token=token)
        assert answer.status == 401, token


async def test_an_expired_token_is_401(server):
    desk = await account(server, "ana")
    assert desk.token is not None
    claims = jwt.decode(desk.token, SESSION_SECRET, algorithms=["HS256"], audience=TOKEN_AUDIENCE)
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 60}, SESSION_SECRET, algorithm="HS256"
    )
    answer = await desk.get("/me", token=expired)
    assert answer.status == 401 and "expired" in answer.body["error"]


async def test_the_session_lifetime_is_configurable(database_url, desk_settings):
    async with running_connectors(database_url, desk={**desk_settings, "session_lifetime": 1}) as server:
        desk = await account(server, "ana")
        assert (await desk.get("/me")).status == 200
        time.sleep(2.1)
        assert (await desk.get("/me")).status == 401


async def test_a_deactivated_agent_is_out_at_once(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    desk = await account(server, "ana")
    assert (await desk.get("/attentions")).status == 200
    changed = await boss.call("PATCH", f"/agents/{desk.id}", {"active": False})
    assert changed.status == 200 and changed.body["agent"]["active"] is False
    assert (await desk.get("/attentions")).status == 401
    relogin = await Desk(server).call("POST", "/login", {"username": "ana", "password": PASSWORD}, token=None)
    assert relogin.status == 401 and "deactivated" in relogin.body["error"]


async def test_a_new_password_ends_older_sessions(server):
    boss = await account(server, "jefa", role="supervisor", campaigns=[])
    desk = await account(server, "ana")
    assert (await boss.call("PATCH", f"/agents/{desk.id}", {"password": "otra-clave-larga"})).status == 200
    assert (await desk.get("/me")).status == 401
    assert (await login(server, "ana", "otra-clave-larga")).token


@pytest.mark.parametrize("path", ["/attentions", "/labels", "/me", "/campaigns"])
async def test_every_api_call_needs_a_session(server, path):
    assert (await Desk(server).get(path, token=None)).status == 401


def test_the_login_limiter_forgets_after_its_window():
    from connectors.desk.auth import LoginLimit, TooManyAttempts

    now = [1000.0]
    limiter = LoginLimit(2, 60, lockout=60, clock=lambda: now[0])
    limiter.fail("k")
    limiter.check("k")
    limiter.fail("k")
    with pytest.raises(TooManyAttempts) as raised:
        limiter.check("k")
    assert 0 < raised.value.retry_after <= 61
    now[0] += 61
    limiter.check("k")
    limiter.fail("k")
    limiter.forget("k")
    limiter.check("k")
