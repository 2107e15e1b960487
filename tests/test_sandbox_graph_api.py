"""FakeGraphAPI over real HTTP: tokens, limits, faults, profiles, waiting, echoes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.web_protocol import RequestHandler

from sandbox.graph_api import FakeGraphAPI, WaitTimeout
from sandbox.meta import DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ID
from sandbox.webhooks import WebhookSender
from tests.webhook_receiver import LoopbackWebhookReceiver

TOKENS = {"tok-m": "messenger", "tok-i": "instagram"}
SECRETS = {"messenger": "m-secret", "instagram": "i-secret"}
PSID, IGSID = "2400000000000001", "1700000000000002"


@pytest.fixture
async def api() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(tokens=TOKENS) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def text_body(text: str = "hola", recipient: str = PSID, **message: Any) -> dict[str, Any]:
    return {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": {"text": text, **message}}


async def send(
    http: aiohttp.ClientSession,
    api: FakeGraphAPI,
    body: Any,
    *,
    token: str = "tok-m",
    bearer: bool = False,
    path: str = "/v21.0/me/messages",
    timeout: float | None = None,
):
    kwargs: dict[str, Any] = {"json": body}
    if bearer:
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    else:
        kwargs["params"] = {"access_token": token}
    if timeout is not None:
        kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
    async with http.post(api.url + path, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def error_of(http: aiohttp.ClientSession, api: FakeGraphAPI, body: Any, **kw: Any) -> dict[str, Any]:
    status, payload, _ = await send(http, api, body, **kw)
    assert status == 400, payload
    return payload["error"]


# -- basics ----------------------------------------------------------------------------------


async def test_send_text_records_request_and_answers_like_meta(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    assert api.url.startswith("http://127.0.0.1:") and api.port > 0
    status, payload, headers = await send(http, api, text_body(metadata="row-1"))
    assert status == 200
    assert payload["recipient_id"] == PSID and payload["message_id"].startswith("m_")
    [record] = api.requests
    assert record.method == "POST" and record.path == "/v21.0/me/messages"
    assert record.query == {"access_token": "tok-m"} and record.channel == "messenger"
    assert record.json["message"] == {"text": "hola", "metadata": "row-1"}
    assert record.headers["Content-Type"].startswith("application/json")
    assert record.response_status == 200 and record.response_json == payload
    assert record.message_id == payload["message_id"] and record.accepted and record.answered
    assert abs(record.time - time.time()) < 5 and record.ok and record.text == "hola"
    assert api.sent_messages() == [record] and api.sent_messages(PSID) == [record]
    assert api.sent_messages("someone-else") == []
    assert headers["Content-Type"] == "application/json"


async def test_bearer_token_any_version_and_account_path(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    for path in ("/v19.0/me/messages", "/v22.0/17841400000000001/messages", "/v21/me/messages"):
        status, payload, _ = await send(http, api, text_body(recipient=IGSID), token="tok-i", bearer=True, path=path)
        assert status == 200, (path, payload)
    assert [r.version for r in api.requests] == ["v19.0", "v22.0", "v21"]
    assert api.requests[1].node == "17841400000000001"
    assert {r.channel for r in api.sent_messages(IGSID)} == {"instagram"}


async def test_message_ids_are_unique(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    ids = {(await send(http, api, text_body(str(i))))[1]["message_id"] for i in range(50)}
    assert len(ids) == 50


async def test_form_encoded_bodies_are_understood(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    form = {
        "recipient": json.dumps({"id": PSID}),
        "messaging_type": "RESPONSE",
        "message": json.dumps({"text": "form"}),
        "access_token": "tok-m",
    }
    async with http.post(api.url + "/v21.0/me/messages", data=form) as response:
        assert response.status == 200
    assert api.sent_messages()[0].text == "form"


# -- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["nope", ""])
async def test_unknown_or_missing_token_is_oauth_error_190(api: FakeGraphAPI, http: aiohttp.ClientSession, token: str) -> None:
    error = await error_of(http, api, text_body(), token=token)
    assert error["type"] == "OAuthException" and error["code"] == 190 and error["error_subcode"] == 463
    assert error["message"] and error["fbtrace_id"]
    assert api.sent_messages() == [] and api.requests[0].outcome == "error"


async def test_profile_lookup_needs_a_token_too(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.add_profile(PSID, first_name="Ana")
    async with http.get(f"{api.url}/v21.0/{PSID}", params={"fields": "first_name", "access_token": "x"}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == 190


# -- Meta's limits ---------------------------------------------------------------------------


async def test_messenger_text_limit_is_2000_characters(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    assert (await send(http, api, text_body("é" * 2000)))[0] == 200  # characters, not bytes
    error = await error_of(http, api, text_body("a" * 2001))
    assert error["code"] == 100 and "2000" in error["message"]


async def test_instagram_text_limit_is_1000_utf8_bytes(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    assert (await send(http, api, text_body("a" * 1000, IGSID), token="tok-i"))[0] == 200
    assert (await send(http, api, text_body("é" * 500, IGSID), token="tok-i"))[0] == 200  # 1000 bytes
    for too_long in ("a" * 1001, "é" * 501, "😀" * 251):
        error = await error_of(http, api, text_body(too_long, IGSID), token="tok-i")
        assert error["code"] == 100 and "1000 bytes" in error["message"]
    assert (await send(http, api, text_body("é" * 1500)))[0] == 200  # the same text is fine on Messenger


def quick_replies(n: int, title: str = "Opción") -> list[dict[str, str]]:
    return [{"content_type": "text", "title": title, "payload": f"P{i}"} for i in range(n)]


async def test_quick_reply_count_and_title_limits(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    assert (await send(http, api, text_body(quick_replies=quick_replies(13))))[0] == 200
    assert "13" in (await error_of(http, api, text_body(quick_replies=quick_replies(14))))["message"]
    assert (await send(http, api, text_body(quick_replies=quick_replies(2, "x" * 20))))[0] == 200
    error = await error_of(http, api, text_body(quick_replies=quick_replies(2, "x" * 21)))
    assert error["code"] == 100 and "title" in error["message"]
    email = [{"content_type": "user_email"}]
    assert (await send(http, api, text_body(quick_replies=email)))[0] == 200


def template(payload: dict[str, Any], recipient: str = PSID) -> dict[str, Any]:
    return {
        "recipient": {"id": recipient},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "template", "payload": payload}},
    }


def buttons(n: int) -> list[dict[str, str]]:
    return [{"type": "postback", "title": f"B{i}", "payload": f"B{i}"} for i in range(n)]


async def test_button_template_has_at_most_3_buttons(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    ok = template({"template_type": "button", "text": "¿Qué deseas?", "buttons": buttons(3)})
    assert (await send(http, api, ok))[0] == 200
    bad = template({"template_type": "button", "text": "¿Qué deseas?", "buttons": buttons(4)})
    error = await error_of(http, api, bad)
    assert error["code"] == 100 and "3 buttons" in error["message"]


async def test_generic_template_has_at_most_10_elements(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    def elements(n: int) -> list[dict[str, Any]]:
        return [{"title": f"Producto {i}", "subtitle": "S/ 10", "buttons": buttons(1)} for i in range(n)]

    assert (await send(http, api, template({"template_type": "generic", "elements": elements(10)})))[0] == 200
    error = await error_of(http, api, template({"template_type": "generic", "elements": elements(11)}))
    assert error["code"] == 100 and "10 elements" in error["message"]
    too_many_buttons = [{"title": "x", "buttons": buttons(4)}]
    assert (await error_of(http, api, template({"template_type": "generic", "elements": too_many_buttons})))["code"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"},  # nothing to send
        {"recipient": {}, "messaging_type": "RESPONSE", "message": {"text": "x"}},  # no recipient
        {"recipient": {"id": PSID}, "messaging_type": "LOL", "message": {"text": "x"}},  # bad type
        {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}},  # tag missing
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": ""}},  # empty text
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "x", "attachment": {}}},
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": {}}},
        },  # no url
        {"recipient": {"id": PSID}, "sender_action": "dance"},
        "not an object",
    ],
)
async def test_invalid_bodies_are_code_100(api: FakeGraphAPI, http: aiohttp.ClientSession, body: Any) -> None:
    assert (await error_of(http, api, body))["code"] == 100
    assert api.sent_messages() == []


async def test_human_agent_tag(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    tagged = {**text_body(), "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    assert (await send(http, api, tagged))[0] == 200
    assert (await send(http, api, {**tagged, "recipient": {"id": IGSID}}, token="tok-i"))[0] == 200
    other_tag = {**tagged, "recipient": {"id": IGSID}, "tag": "POST_PURCHASE_UPDATE"}
    assert (await error_of(http, api, other_tag, token="tok-i"))["code"] == 100


# -- sender actions ----------------------------------------------------------------------------


async def test_sender_actions(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    for action in ("mark_seen", "typing_on", "typing_off"):
        status, payload, _ = await send(http, api, {"recipient": {"id": PSID}, "sender_action": action})
        assert status == 200 and payload == {"recipient_id": PSID}
    assert [r.sender_action for r in api.sender_actions(PSID)] == ["mark_seen", "typing_on", "typing_off"]
    assert len(api.sender_actions(action="typing_on")) == 1
    assert api.sent_messages() == []  # sender actions are not messages


# -- fault injection ---------------------------------------------------------------------------


async def test_fail_next_returns_meta_error_then_recovers(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.fail_next(times=2)
    for _ in range(2):
        status, payload, _ = await send(http, api, text_body())
        assert status == 500
        assert payload["error"]["code"] == 1200 and payload["error"]["type"] == "OAuthException"
        assert payload["error"]["fbtrace_id"]
    assert (await send(http, api, text_body()))[0] == 200
    assert [r.outcome for r in api.requests] == ["fault", "fault", "ok"]
    assert len(api.sent_messages()) == 1


async def test_fail_next_custom_code_and_targeting(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.fail_next(http_status=400, code=2, subcode=None, message="Service temporarily unavailable", recipient_id="victim")
    assert (await send(http, api, text_body(recipient="bystander")))[0] == 200
    status, payload, _ = await send(http, api, text_body(recipient="victim"))
    assert status == 400 and payload["error"]["code"] == 2 and "error_subcode" not in payload["error"]
    assert payload["error"]["message"] == "Service temporarily unavailable"


async def test_faults_apply_to_message_sends_by_default(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.fail_next()
    assert (await send(http, api, {"recipient": {"id": PSID}, "sender_action": "typing_on"}))[0] == 200
    assert (await send(http, api, text_body()))[0] == 500
    api.fail_next(kind="sender_action")
    assert (await send(http, api, text_body()))[0] == 200
    assert (await send(http, api, {"recipient": {"id": PSID}, "sender_action": "typing_on"}))[0] == 500


async def test_rate_limit_window_and_unavailable(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.rate_limit_next()
    status, payload, headers = await send(http, api, text_body())
    assert status == 400 and payload["error"]["code"] == 613 and "X-App-Usage" in headers
    api.outside_window_next(channel="instagram")
    error = await error_of(http, api, text_body(recipient=IGSID), token="tok-i")
    assert (error["code"], error["error_subcode"]) == (10, 2534022)
    api.outside_window_next()
    error = await error_of(http, api, text_body())
    assert (error["code"], error["error_subcode"]) == (10, 2018278)
    api.user_unavailable_next(recipient_id=PSID)
    error = await error_of(http, api, text_body())
    assert (error["code"], error["error_subcode"]) == (551, 1545041)
    assert api.faults.pending == []


async def test_delay_without_accept_drops_the_message_when_the_client_gives_up(
    api: FakeGraphAPI, http: aiohttp.ClientSession
) -> None:
    api.delay_next(0.6)
    with pytest.raises(asyncio.TimeoutError):
        await send(http, api, text_body("lost"), timeout=0.2)
    [record] = await api.wait_for(lambda r: r.outcome == "dropped", timeout=3)
    assert not record.accepted and api.sent_messages() == []


async def test_delay_without_accept_answers_late_when_the_client_waits(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.delay_next(0.3)
    started = time.monotonic()
    status, payload, _ = await send(http, api, text_body("slow"))
    assert status == 200 and time.monotonic() - started >= 0.3
    assert api.sent_messages()[0].message_id == payload["message_id"]


async def test_delay_with_accept_is_the_ambiguous_timeout(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.delay_next(0.6, accept=True)
    with pytest.raises(asyncio.TimeoutError):
        await send(http, api, text_body("maybe"), timeout=0.2)
    # Meta processed it although the client saw a timeout: a blind retry would duplicate it.
    [record] = api.sent_messages()
    assert record.text == "maybe" and record.message_id
    await api.wait_for(lambda r: r.response_status == 200, timeout=3)


async def test_close_connection(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.close_connection_next()
    with pytest.raises(aiohttp.ClientError):
        await send(http, api, text_body("cut"))
    assert api.sent_messages() == [] and api.requests[0].outcome == "closed"
    api.close_connection_next(accept=True)
    with pytest.raises(aiohttp.ClientError):
        await send(http, api, text_body("cut-but-sent"))
    assert [r.text for r in api.sent_messages()] == ["cut-but-sent"]
    assert (await send(http, api, text_body("after")))[0] == 200


async def test_stop_does_not_wait_for_long_delays(http: aiohttp.ClientSession) -> None:
    fake = await FakeGraphAPI(tokens=TOKENS).start()
    fake.delay_next(30)
    task = asyncio.create_task(send(http, fake, text_body()))
    await fake.wait_for(1)
    started = time.monotonic()
    await fake.stop()
    assert time.monotonic() - started < 5
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# -- profiles --------------------------------------------------------------------------------


async def get_profile(http: aiohttp.ClientSession, api: FakeGraphAPI, user: str, fields: str, token: str = "tok-m"):
    async with http.get(f"{api.url}/v21.0/{user}", params={"fields": fields, "access_token": token}) as r:
        return r.status, await r.json()


async def test_profiles_fields_unknown_users_and_counts(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.add_profile(PSID, first_name="Ana", last_name="Pérez", profile_pic="https://cdn.example/a.jpg")
    api.add_profile(IGSID, name="Ana Pérez", username="ana.p", profile_pic="https://cdn.example/b.jpg")
    status, payload = await get_profile(http, api, PSID, "first_name,last_name,profile_pic")
    assert status == 200 and payload == {
        "id": PSID,
        "first_name": "Ana",
        "last_name": "Pérez",
        "profile_pic": "https://cdn.example/a.jpg",
    }
    status, payload = await get_profile(http, api, IGSID, "name,username,profile_pic", token="tok-i")
    assert payload == {"id": IGSID, "name": "Ana Pérez", "username": "ana.p", "profile_pic": "https://cdn.example/b.jpg"}
    status, payload = await get_profile(http, api, PSID, "first_name,middle_name")
    assert payload == {"id": PSID, "first_name": "Ana"}  # missing fields are omitted
    status, payload = await get_profile(http, api, "404404", "first_name")
    assert status == 400 and (payload["error"]["code"], payload["error"]["error_subcode"]) == (100, 33)
    assert api.profile_request_count(PSID) == 2 and api.profile_request_count(IGSID) == 1
    assert api.profile_request_count() == 4
    api.remove_profile(PSID)
    assert (await get_profile(http, api, PSID, "first_name"))[0] == 400


async def test_profile_faults(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    api.add_profile(PSID, first_name="Ana")
    api.fail_next(kind="profile", recipient_id=PSID, http_status=500, code=2)
    assert (await get_profile(http, api, PSID, "first_name"))[0] == 500
    assert (await get_profile(http, api, PSID, "first_name"))[0] == 200


async def test_me_thread_control_and_unknown_paths(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{api.url}/v21.0/me", params={"access_token": "tok-m"}) as r:
        assert (await r.json())["id"] == DEFAULT_PAGE_ID
    async with http.get(f"{api.url}/v21.0/me", params={"access_token": "tok-i"}) as r:
        assert (await r.json())["id"] == DEFAULT_IG_ACCOUNT_ID
    async with http.post(
        f"{api.url}/v21.0/me/pass_thread_control",
        params={"access_token": "tok-m"},
        json={"recipient": {"id": PSID}, "target_app_id": 263902037430900},
    ) as r:
        assert r.status == 200 and await r.json() == {"success": True}
    async with http.post(f"{api.url}/v21.0/me/whatever", params={"access_token": "tok-m"}, json={}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == 2500
    assert [r.kind for r in api.requests] == ["account", "account", "thread_control", "unknown"]


# -- waiting ---------------------------------------------------------------------------------


async def test_wait_for_count_predicate_and_timeout(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    async def later() -> None:
        await asyncio.sleep(0.1)
        await send(http, api, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
        await send(http, api, text_body("uno"))
        await send(http, api, text_body("dos"))

    task = asyncio.create_task(later())
    records = await api.wait_for_messages(2, recipient_id=PSID, timeout=3)
    assert [r.text for r in records] == ["uno", "dos"]
    await task
    assert len(await api.wait_for(3, timeout=0.1)) == 3  # already there: returns at once
    assert (await api.wait_for(lambda r: r.sender_action == "typing_on"))[0].kind == "sender_action"
    assert len(await api.wait_for(lambda r: r.kind == "message", 1.0, count=2)) == 2  # (predicate, timeout)
    with pytest.raises(WaitTimeout) as info:
        await api.wait_for(lambda r: r.text == "never", timeout=0.2)
    assert isinstance(info.value, asyncio.TimeoutError) and "got 0" in str(info.value)


async def test_wait_for_many_concurrent_sends(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    waiter = asyncio.create_task(api.wait_for_messages(600, 10.0))
    sloppy = asyncio.create_task(api.wait_for(lambda r: r.json["message"]["text"] == "599", 10.0))
    await asyncio.gather(*(send(http, api, text_body(str(i))) for i in range(600)))
    assert len(await waiter) == 600
    assert [r.text for r in await sloppy] == ["599"]  # a raising predicate just means "no"


async def test_reset_forgets_requests_and_faults(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await send(http, api, text_body())
    api.fail_next()
    api.reset()
    assert api.requests == [] and api.faults.pending == []


# -- the wire: one write per answer, no delayed-ACK stalls ---------------------------------------


async def test_each_response_leaves_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    nodelay: list[int] = []
    original = StreamWriter._write

    def counting(self: StreamWriter, chunk: bytes) -> None:  # every transport.write goes through here
        if isinstance(self.protocol, RequestHandler):  # the server's writes, not the client's
            writes.append(len(chunk))
        original(self, chunk)

    monkeypatch.setattr(StreamWriter, "_write", counting)

    @web.middleware
    async def count_writes(request: web.Request, handler: Any) -> web.StreamResponse:
        assert request.transport is not None
        sock = request.transport.get_extra_info("socket")
        nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return await handler(request)

    fake = FakeGraphAPI(tokens=TOKENS)
    app = web.Application(middlewares=[count_writes])
    fake.install(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "/v21.0/me/messages", params={"access_token": "tok-m"}, json=text_body()) as response:
                assert response.status == 200
            async with session.post(url + "/v21.0/me/messages", params={"access_token": "bad"}, json=text_body()) as response:
                assert response.status == 400
    finally:
        await runner.cleanup()
    assert len(writes) == 2  # header block and body together, for each of the two answers
    assert all(nodelay) and nodelay  # no Nagle: nothing waits for the peer's delayed ACK


async def test_sequential_sends_on_one_connection_are_fast(api: FakeGraphAPI) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        for i in range(200):
            async with session.post(
                api.url + "/v21.0/me/messages", params={"access_token": "tok-m"}, json=text_body(str(i))
            ) as response:
                assert response.status == 200
                await response.read()
        elapsed = time.monotonic() - started
    # A 40 ms delayed-ACK stall per request would take 8 s.
    assert elapsed < 3, elapsed


# -- echoes, deliveries, reads ---------------------------------------------------------------------


class Receiver(LoopbackWebhookReceiver):
    """Fake Rasa webhook endpoint recording verified webhooks in arrival order."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.valid: list[bool] = []
        self.arrived = asyncio.Condition()
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        secret = SECRETS[request.match_info["channel"]]
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        self.valid.append(hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")))
        self.bodies.append(json.loads(raw))
        async with self.arrived:
            self.arrived.notify_all()
        return web.Response(text="ok")

    async def wait(self, count: int, timeout: float = 3) -> list[dict[str, Any]]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.bodies) >= count), timeout)
        return self.bodies


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = await Receiver().start()
    yield rec
    assert rec.runner is not None
    await rec.runner.cleanup()


@pytest.fixture
async def echoing(receiver: Receiver) -> AsyncIterator[FakeGraphAPI]:
    async with (
        WebhookSender(receiver.url, SECRETS) as sender,
        FakeGraphAPI(tokens=TOKENS, webhooks=sender, app_id="1234567890") as fake,
    ):
        yield fake


def event(body: dict[str, Any]) -> dict[str, Any]:
    return body["entry"][0]["messaging"][0]


async def test_messenger_send_emits_signed_echo_then_delivery(
    echoing: FakeGraphAPI, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    _, payload, _ = await send(http, echoing, text_body("Hola", metadata="row-9"))
    echo, delivery = await receiver.wait(2)
    assert receiver.valid == [True, True]
    assert echo["object"] == "page" and echo["entry"][0]["id"] == DEFAULT_PAGE_ID
    message = event(echo)["message"]
    assert message["is_echo"] is True and message["mid"] == payload["message_id"]
    assert message["app_id"] == 1234567890 and message["metadata"] == "row-9" and message["text"] == "Hola"
    assert event(echo)["sender"]["id"] == DEFAULT_PAGE_ID and event(echo)["recipient"]["id"] == PSID
    assert event(delivery)["delivery"]["mids"] == [payload["message_id"]]
    assert event(delivery)["sender"]["id"] == PSID and event(delivery)["delivery"]["watermark"] > 0
    # Sender actions are not echoed.
    await send(http, echoing, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    await echoing.flush_webhooks()
    assert len(receiver.bodies) == 2


async def test_instagram_send_emits_echo_without_delivery(
    echoing: FakeGraphAPI, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    attachment = {"type": "image", "payload": {"url": "https://cdn.example/x.png"}}
    body = {"recipient": {"id": IGSID}, "messaging_type": "RESPONSE", "message": {"attachment": attachment}}
    _, payload, _ = await send(http, echoing, body, token="tok-i")
    [echo] = await receiver.wait(1)
    await echoing.flush_webhooks()
    assert len(receiver.bodies) == 1 and receiver.valid == [True]
    assert echo["object"] == "instagram" and echo["entry"][0]["id"] == DEFAULT_IG_ACCOUNT_ID
    assert event(echo)["message"]["attachments"] == [attachment]
    assert event(echo)["message"]["mid"] == payload["message_id"]


async def test_auto_read_and_echo_after_the_answer(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    async with (
        WebhookSender(receiver.url, SECRETS) as sender,
        FakeGraphAPI(tokens=TOKENS, webhooks=sender, auto_read=True) as fake,
    ):
        _, payload, _ = await send(http, fake, text_body(recipient=IGSID), token="tok-i")
        bodies = await receiver.wait(2)
        assert [list(event(b))[-1] for b in bodies] == ["message", "read"]
        assert event(bodies[1])["read"] == {"mid": payload["message_id"]}
        assert fake.sent_messages()[0].answered


async def test_early_echo_arrives_before_the_answer(
    echoing: FakeGraphAPI, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    echoing.early_echo_next()
    _, payload, _ = await send(http, echoing, text_body("race"))
    # The echo was already received when the send call returned (Chatwoot's race).
    assert receiver.bodies and event(receiver.bodies[0])["message"]["mid"] == payload["message_id"]


async def test_listener_is_called_for_accepted_sends(api: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    seen = []

    async def listener(record: Any) -> None:
        seen.append((record.kind, record.accepted))

    api.add_listener(listener)
    await send(http, api, text_body())
    await send(http, api, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    await send(http, api, text_body(""))  # rejected: no listener call
    assert seen == [("message", True), ("sender_action", True)]
