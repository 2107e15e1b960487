"""Uploads and their public URLs, the desk page with its security headers, and the OpenAPI
document against the routes the server really has."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from connectors.desk import page
from connectors.desk.uploads import MAX_UPLOAD_BYTES, safe_name
from tests.desk.support import API, PUBLIC_URL, Desk, account


async def upload(desk: Desk, data: bytes, filename: str, content_type: str):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    async with desk.server.session.post(
        desk.server.url + API + "/uploads", data=form, headers={"Authorization": f"Bearer {desk.token}"}
    ) as response:
        return response.status, await response.json()


def local(server, url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/webhooks/desk/media/")
    return server.url + url[len(PUBLIC_URL) :]


async def test_an_upload_is_served_publicly_at_an_unguessable_url(server, tmp_path):
    ana = await account(server, "ana")
    picture = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    status, stored = await upload(ana, picture, "Foto del señor/../pedido.png", "image/png")
    assert status == 201 and stored["type"] == "image" and stored["size"] == len(picture)
    key, name = stored["url"].rsplit("/", 2)[-2:]
    assert len(key) >= 24 and name == "pedido.png"
    assert (tmp_path / "uploads" / key / name).read_bytes() == picture
    async with server.session.get(local(server, stored["url"])) as response:  # no token: Meta fetches it
        assert response.status == 200 and await response.read() == picture
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("inline")


@pytest.mark.parametrize(
    "filename, content_type, kind, served",
    [
        ("informe.pdf", "application/pdf", "file", "application/pdf"),
        ("nota de voz.ogg", "audio/ogg", "audio", "audio/ogg"),
        ("clip.mp4", "video/mp4", "video", "video/mp4"),
        ("pagina.html", "text/html", "file", "text/html"),
        ("dibujo.svg", "image/svg+xml", "file", "image/svg+xml"),
        ("sin-extension", "image/jpeg", "image", "image/jpeg"),
    ],
)
async def test_types_come_from_the_content_type_and_only_media_is_inline(server, filename, content_type, kind, served):
    ana = await account(server, "ana")
    status, stored = await upload(ana, b"<svg onload=alert(1)>", filename, content_type)
    assert status == 201 and stored["type"] == kind
    async with server.session.get(local(server, stored["url"])) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith(served)
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment" if kind == "file" else "inline")
        assert "sandbox" in response.headers["Content-Security-Policy"]


async def test_uploads_need_a_session_a_file_and_at_most_25_mb(server):
    ana = await account(server, "ana")
    assert (await upload(Desk(server, token="forged"), b"x", "a.txt", "text/plain"))[0] == 401
    async with server.session.post(
        server.url + API + "/uploads", data=b"{}", headers={"Authorization": f"Bearer {ana.token}"}
    ) as response:
        assert response.status == 400
    status, answer = await upload(ana, b"0" * (MAX_UPLOAD_BYTES + 1), "grande.bin", "application/octet-stream")
    assert status == 413 and "25 MB" in answer["error"]


async def test_media_urls_cannot_leave_the_uploads_folder(server, tmp_path):
    (tmp_path / "secret.txt").write_text("no")
    for path in (
        "/webhooks/desk/media/AAAAAAAAAAAAAAAAAAAA/..%2F..%2Fsecret.txt",
        "/webhooks/desk/media/short/x.txt",
        "/webhooks/desk/media/AAAAAAAAAAAAAAAAAAAA/nothing.png",
    ):
        async with server.session.get(server.url + path) as response:
            assert response.status == 404, path


def test_safe_names():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\ana\\Año nuevo.JPG") == "Ano_nuevo.JPG"
    assert safe_name(".htaccess") == "htaccess"
    assert safe_name("") == "archivo"
    assert safe_name("foto", "image/png") == "foto.png"
    assert safe_name("x.png", "text/plain") == "x.txt"


async def test_the_page_and_its_files_with_a_strict_policy(server, tmp_path, monkeypatch):
    async with server.session.get(server.url + "/webhooks/desk", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/webhooks/desk/"
    async with server.session.get(server.url + "/webhooks/desk/") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "connect-src 'self' ws: wss:" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with server.session.get(server.url + "/webhooks/desk/health") as response:
        assert response.status == 200 and (await response.json()) == {"status": "ok"}
    for path in (
        "/webhooks/desk/static/..%2F..%2Fchannel.py",
        "/webhooks/desk/static/%2e%2e/api.py",
        "/webhooks/desk/static/nothing.js",
        "/webhooks/desk/static/.hidden",
    ):
        async with server.session.get(server.url + path) as response:
            assert response.status == 404, path


def test_static_files_are_found_inside_the_folder_only(tmp_path):
    (tmp_path / "app.js").write_text("export {}")
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "desk.css").write_text("body{}")
    (tmp_path / ".secret").write_text("x")
    assert page.static_file(tmp_path, "app.js") == (tmp_path / "app.js").resolve()
    assert page.static_file(tmp_path, "css/desk.css") == (tmp_path / "css" / "desk.css").resolve()
    for bad in ("../x", "css/../../x", ".secret", "", "css", "/etc/passwd"):
        assert page.static_file(tmp_path, bad) is None, bad


async def test_static_files_are_served_with_their_types(server):
    for name, expected in (("api.js", "text/javascript"), ("desk.css", "text/css")):
        if not (Path(page.STATIC_DIRECTORY) / name).exists():
            continue
        async with server.session.get(f"{server.url}/webhooks/desk/static/{name}") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith(expected)
            assert "Content-Security-Policy" in response.headers


def _openapi_path(route_path: str) -> str:
    return "/" + re.sub(r"<([a-z_]+)(:[a-z]+)?>", r"{\1}", route_path.split("webhooks/desk", 1)[1].lstrip("/"))


DOCUMENTED = ("webhooks/desk/api", "webhooks/desk/service")


async def test_the_openapi_document_covers_every_api_and_service_route(server):
    async with server.session.get(server.url + API + "/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.")
    registered: dict[str, set[str]] = {}
    for route in server.app.router.routes:
        if route.path.startswith(DOCUMENTED):
            registered.setdefault(_openapi_path(route.path), set()).update(method.lower() for method in route.methods)
    assert "/api/login" in registered and "/service/attentions" in registered
    for path, methods in registered.items():
        assert path in document["paths"], f"{path} is not in openapi.json"
        described = set(document["paths"][path])
        assert methods - {"head", "options"} <= described, f"{path}: {methods} vs {described}"
    assert set(document["paths"]) == set(registered), "openapi.json describes routes the server does not have"
