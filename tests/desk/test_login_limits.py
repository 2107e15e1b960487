"""Login limits per account and per real client address (issue 12), over real HTTP: the
client address comes from forwarded headers only when Sanic's proxy settings name the proxy
(``SANIC_PROXIES_COUNT``, ``SANIC_FORWARDED_SECRET``, read when the app is created, as in
``rasa run``); otherwise the socket's peer counts, whatever the headers say."""

from __future__ import annotations

import asyncio

import pytest

from connectors.desk.auth import FamiliarPlaces, LoginLimit, TooManyAttempts, address_key
from tests.connectors.harness import running_connectors
from tests.desk.support import PASSWORD, Answer, Desk, make_account

ATTACKER = "203.0.113.7"
AGENT_HOME = "198.51.100.20"
PROXY_SETTINGS = ("SANIC_PROXIES_COUNT", "SANIC_REAL_IP_HEADER", "SANIC_FORWARDED_SECRET", "SANIC_FORWARDED_FOR_HEADER")


async def attempt(
    server, username: str, password: str = "wrong-password", *, client: str | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """One login; ``client`` is what the proxy in front says in X-Forwarded-For."""
    sent = dict(headers or {})
    if client is not None:
        sent["X-Forwarded-For"] = client
    return await Desk(server).call("POST", "/login", {"username": username, "password": password}, token=None, headers=sent)


def assert_locked(answer: Answer) -> None:
    assert answer.status == 429, answer.body
    assert int(answer.headers["Retry-After"]) > 0


@pytest.fixture
def no_proxy(monkeypatch) -> None:
    for name in PROXY_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def behind_proxy(no_proxy, monkeypatch, database_url, desk_settings):
    """The operator names one proxy in front (nginx, a load balancer)."""
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "1")
    async with running_connectors(database_url, desk=desk_settings) as running:
        assert running.app is not None and running.app.config.PROXIES_COUNT == 1  # Sanic read it, as Rasa's app does
        yield running


async def test_without_proxy_settings_a_spoofed_x_forwarded_for_does_not_dodge_the_limit(no_proxy, database_url, desk_settings):
    async with running_connectors(database_url, desk=desk_settings) as server:
        await make_account(server, "ana")
        for number in range(5):
            assert (await attempt(server, "ana", client=f"192.0.2.{number}")).status == 401
        assert_locked(await attempt(server, "ana", PASSWORD, client="192.0.2.99"))
        # Nor across usernames: the socket's address is the one that counts.
        for number in range(25):
            assert (await attempt(server, f"nadie{number}", client=f"192.0.2.{100 + number}")).status == 401
        assert_locked(await attempt(server, "otro", client="192.0.2.200"))


async def test_with_everyone_behind_one_unnamed_proxy_a_spray_does_not_lock_out_agents_who_logged_in_there(no_proxy, server):
    # Without proxy settings every agent seems to come from the proxy (here: loopback).
    await make_account(server, "ana")
    assert (await attempt(server, "ana", PASSWORD)).status == 200
    for number in range(30):
        assert (await attempt(server, f"user{number}")).status == 401
    assert_locked(await attempt(server, "someone-new", PASSWORD))
    assert (await attempt(server, "ana", PASSWORD)).status == 200


async def test_a_forwarded_header_without_the_proxys_secret_is_not_believed(no_proxy, monkeypatch, database_url, desk_settings):
    monkeypatch.setenv("SANIC_FORWARDED_SECRET", "the-proxys-secret")
    async with running_connectors(database_url, desk=desk_settings) as server:
        await make_account(server, "ana")
        for number in range(5):
            forged = {"Forwarded": f"for=192.0.2.{number}", "X-Forwarded-For": f"192.0.2.{number}"}
            assert (await attempt(server, "ana", headers=forged)).status == 401
        assert_locked(await attempt(server, "ana", PASSWORD, headers={"Forwarded": "for=192.0.2.99"}))
        # The proxy that knows the secret speaks for a client of its own.
        proxy_says = {"Forwarded": f"for={AGENT_HOME};secret=the-proxys-secret"}
        assert (await attempt(server, "ana", PASSWORD, headers=proxy_says)).status == 200


async def test_behind_a_named_proxy_an_attacker_does_not_lock_out_another_client(behind_proxy):
    server = behind_proxy
    await make_account(server, "bea")
    for number in range(30):
        assert (await attempt(server, f"user{number}", client=ATTACKER)).status == 401
    assert_locked(await attempt(server, "bea", PASSWORD, client=ATTACKER))
    assert (await attempt(server, "bea", PASSWORD, client=AGENT_HOME)).status == 200


async def test_hammering_ana_from_one_address_does_not_keep_her_out_from_her_own(behind_proxy):
    server = behind_proxy
    await make_account(server, "ana")
    for _ in range(5):
        assert (await attempt(server, "ana", client=ATTACKER)).status == 401
    for _ in range(3):
        assert_locked(await attempt(server, "ana", PASSWORD, client=ATTACKER))
    assert (await attempt(server, "ana", PASSWORD, client=AGENT_HOME)).status == 200


async def test_many_addresses_at_one_account_hit_its_ceiling_but_not_her_familiar_place(behind_proxy):
    server = behind_proxy
    await make_account(server, "ana")
    assert (await attempt(server, "ana", PASSWORD, client=AGENT_HOME)).status == 200
    for number in range(50):  # a botnet: one guess from each address, no pair or address limit reached
        assert (await attempt(server, "ana", client=f"192.0.2.{number}")).status == 401
    assert_locked(await attempt(server, "ana", PASSWORD, client="192.0.2.250"))
    assert (await attempt(server, "ana", PASSWORD, client=AGENT_HOME)).status == 200


async def test_an_ipv6_client_is_counted_by_its_network(behind_proxy):
    server = behind_proxy
    for number in range(30):  # a new address of the same /64 for every guess
        assert (await attempt(server, f"user{number}", client=f"2001:db8:1:2::{number + 1:x}")).status == 401
    assert_locked(await attempt(server, "otro", client="2001:db8:1:2:ffff::1"))
    assert (await attempt(server, "otro", client="2001:db8:1:3::1")).status == 401


def test_address_keys():
    assert address_key("[2001:DB8::1]") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("_hidden" * 100) == ("_hidden" * 100)[:100]


def test_lockouts_grow_while_the_guessing_goes_on_and_a_quiet_key_starts_afresh():
    now = [1000.0]
    limit = LoginLimit(2, 60, lockout=60, max_lockout=240, clock=lambda: now[0])
    waits = []
    for _ in range(4):
        limit.fail("k")
        limit.fail("k")
        with pytest.raises(TooManyAttempts) as raised:
            limit.check("k")
        waits.append(raised.value.retry_after)
        now[0] += raised.value.retry_after
        limit.check("k")
    assert waits == [60, 120, 240, 240]
    now[0] += 240
    limit.fail("k")
    limit.fail("k")
    with pytest.raises(TooManyAttempts) as raised:
        limit.check("k")
    assert raised.value.retry_after == 60


def test_the_limits_stay_bounded_when_an_attacker_cycles_keys():
    now = [1000.0]
    limit = LoginLimit(5, 60, capacity=100, clock=lambda: now[0])
    for number in range(5_000):  # all within the window: nothing is stale yet
        limit.fail(("user", number))
        now[0] += 0.001
        assert len(limit) <= 100
    limit.fail("latest")
    for _ in range(4):
        limit.fail("latest")
    with pytest.raises(TooManyAttempts):
        limit.check("latest")  # the most recent keys are the ones kept
    places = FamiliarPlaces(capacity=10, clock=lambda: now[0])
    for number in range(1_000):
        places.remember(("ana", f"192.0.2.{number}"))
    assert len(places) == 10 and ("ana", "192.0.2.999") in places and ("ana", "192.0.2.0") not in places


def test_stale_keys_leave_even_below_capacity():
    now = [1000.0]
    limit = LoginLimit(5, 60, max_lockout=900, clock=lambda: now[0])
    for number in range(1_000):
        limit.fail(number)
    now[0] += 901
    limit.fail("new")
    assert len(limit) == 1


async def test_guesses_sent_all_at_once_are_limited_like_one_after_another(behind_proxy):
    server = behind_proxy
    await make_account(server, "ana")
    answers = await asyncio.gather(*(attempt(server, "ana", client=ATTACKER) for _ in range(20)))
    assert sorted(answer.status for answer in answers) == [401] * 5 + [429] * 15
    assert (await attempt(server, "ana", PASSWORD, client=AGENT_HOME)).status == 200


def test_a_right_password_on_the_last_allowed_attempt_causes_no_lockout():
    now = [1000.0]
    limit = LoginLimit(2, 60, clock=lambda: now[0])
    limit.fail("k")
    limit.check("k")
    limit.fail("k")  # counted in advance ...
    limit.take_back("k")  # ... and it was the right password
    limit.check("k")
    limit.fail("k")
    with pytest.raises(TooManyAttempts):
        limit.check("k")
