"""Each desk route's door: the credential and the body limit are checked before a body is
read (a big unauthenticated post is answered at once and costs no memory), ids no row can
have are 404, and nothing but the desk's own files may be cached."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

import pytest

from connectors.desk import doors
from connectors.desk.uploads import MAX_UPLOAD_BYTES
from tests.connectors.harness import SERVICE_TOKEN
from tests.desk.support import API, account, login, make_account

NINETY_MB = 90 * 1024 * 1024
CHUNK = b"x" * (256 * 1024)


def resident_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def raw_post(
    server, path: str, length: int, *, token: str | None = None, body: bytes | None = None, send_body: bool = False
) -> tuple[int, bytes, float]:
    """POST with a declared length over a plain socket: the status line, the headers and
    how long the answer took. With ``send_body`` the client keeps writing ``length`` bytes
    (from one small buffer: the client's memory stays flat) until the server closes."""
    address = urlparse(server.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = [f"POST {path} HTTP/1.1", f"Host: {address.netloc}", "Content-Type: application/json"]
    head.append(f"Content-Length: {length}" if length >= 0 else "Transfer-Encoding: chunked")
    if token:
        head.append(f"Authorization: Bearer {token}")
    started = time.monotonic()
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    if body is not None:
        writer.write(body)

    async def push() -> None:
        sent = 0
        try:
            while sent < length:
                writer.write(CHUNK)
                await writer.drain()
                sent += len(CHUNK)
        except (ConnectionError, OSError):
            pass  # the server closed: what it would not read never left this side

    pushing = asyncio.ensure_future(push()) if send_body else None
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        elapsed = time.monotonic() - started
        status = int(answer.split(b" ", 2)[1])
    finally:
        if pushing is not None:
            pushing.cancel()
        writer.close()
    return status, answer, elapsed


def desk_routes(server) -> list:
    return [route for route in server.app.router.routes if ".desk_webhook." in route.name]


async def test_every_desk_route_declares_its_door(server):
    routes = desk_routes(server)
    assert len(routes) > 30
    undeclared = [route.path for route in routes if not isinstance(getattr(route.ctx, "door", None), doors.Door)]
    assert undeclared == []


@pytest.mark.parametrize(
    "path",
    [f"{API}/attentions/1/messages", f"{API}/uploads", f"{API}/agents", "/webhooks/desk/service/attentions"],
)
async def test_a_big_body_without_a_credential_is_refused_before_it_is_read(server, path):
    status, head, elapsed = await raw_post(server, path, NINETY_MB)
    assert status == 401
    assert elapsed < 2
    assert b"cache-control: no-store" in head.lower()


async def test_eight_big_unauthenticated_posts_cost_no_memory(server):
    await raw_post(server, f"{API}/attentions/1/messages", 10, body=b"{}")  # warm the route
    before = resident_bytes()
    started = time.monotonic()
    answers = await asyncio.gather(
        *(raw_post(server, f"{API}/attentions/1/messages", NINETY_MB, send_body=True) for _ in range(8))
    )
    assert [status for status, _, _ in answers] == [401] * 8
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.2)  # the server drains what the limit allows, then closes
    grown = resident_bytes() - before
    assert grown < 40 * 1024 * 1024, f"the server grew by {grown / 1e6:.0f} MB"


async def test_the_login_takes_only_a_small_body(server):
    status, _, elapsed = await raw_post(server, f"{API}/login", 10 * 1024 * 1024)
    assert (status, elapsed < 2) == (413, True)


async def test_a_chunked_body_is_cut_at_the_limit(server):
    ana = await account(server, "ana")
    status, _, _ = await raw_post(
        server, f"{API}/attentions/1/messages", -1, token=ana.token, body=b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
    )
    assert status == 413


async def test_the_upload_limit_applies_only_after_the_session(server):
    ana = await account(server, "ana")
    over = MAX_UPLOAD_BYTES + 1024 * 1024
    status, _, elapsed = await raw_post(server, f"{API}/uploads", over, token=ana.token)
    assert (status, elapsed < 2) == (413, True)
    # An agent's JSON call is small: the upload's allowance is the upload route's alone.
    status, _, _ = await raw_post(server, f"{API}/attentions/1/messages", 1024 * 1024, token=ana.token)
    assert status == 413
    # The service API too checks its secret first, then the size.
    status, _, _ = await raw_post(server, "/webhooks/desk/service/attentions", NINETY_MB, token=SERVICE_TOKEN)
    assert status == 413


async def test_the_doors_tell_a_wrong_role_and_a_missing_secret_apart(server):
    ana = await account(server, "ana")
    assert (await ana.get("/agents")).status == 403
    answer = await ana.call("POST", "/../service/attentions", {"channel": "messenger", "customer_id": "1"})
    assert answer.status == 401  # an agent's session is not the service secret


@pytest.mark.parametrize(
    "path",
    [
        "/attentions/{big}",
        "/attentions/{big}/open",
        "/history/{big}",
        "/messages/{big}/retry",
        "/labels/{big}",
        "/agents/{big}",
        "/attentions/1/labels/{big}",
    ],
)
async def test_an_id_no_row_can_have_is_not_found(server, path):
    chief = await account(server, "jefa", role="supervisor")
    method = "GET" if path in ("/attentions/{big}", "/history/{big}") else "POST"
    if path in ("/labels/{big}", "/agents/{big}"):
        method = "PATCH"
    answer = await chief.call(method, path.format(big=2**63), {} if method != "GET" else None)
    assert answer.status == 404, answer.body


async def test_only_the_desks_own_files_may_be_cached(server):
    await make_account(server, "ana")
    desk = await login(server, "ana")
    for path in ("/me", "/attentions", "/openapi.json"):
        assert (await desk.get(path)).headers.get("Cache-Control") == "no-store", path
    for answer in (
        await desk.post("/login", {"username": "ana", "password": "contraseña-segura"}, token=None),
        await desk.post("/login", {"username": "ana", "password": "wrong"}, token=None),
        await desk.get("/me", token="forged"),
    ):
        assert answer.headers.get("Cache-Control") == "no-store", answer.status
    async with server.session.get(server.url + "/webhooks/desk/static/desk.css") as page_file:
        assert page_file.status == 200
        assert page_file.headers.get("Cache-Control") != "no-store"


async def test_the_openapi_document_states_each_doors_credential(server):
    from connectors.desk.openapi import openapi_document
    from tests.desk.test_files_and_page import DOCUMENTED, _openapi_path

    document = openapi_document()
    expected: dict[doors.Credential, list[dict[str, list[str]]]] = {
        doors.Credential.NONE: [],
        doors.Credential.SERVICE: [{"service": []}],
    }
    checked = 0
    for route in server.app.router.routes:
        if not route.path.startswith(DOCUMENTED):
            continue
        door = route.ctx.door
        for method in route.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][_openapi_path(route.path)][method.lower()]
            stated = operation.get("security", document["security"])
            assert stated == expected.get(door.credential, [{"session": []}]), (route.path, method)
            checked += 1
    assert checked > 30
