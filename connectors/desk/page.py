"""The desk page: ``/webhooks/desk/`` (index.html) and ``/webhooks/desk/static/<file>``, from
``connectors/desk/static/``, with a strict Content-Security-Policy: the page loads scripts and
styles from this server only (no inline script or style), shows pictures and media from
Meta's CDN, and talks to this server over HTTP and WebSocket."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.desk import doors
from connectors.desk.http import error
from connectors.desk.uploads import content_type_of
from handoff.error_codes import ErrorCode

STATIC_DIRECTORY = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: https: http:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

PLACEHOLDER = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>Escritorio de agentes</title></head>
<body><h1>Escritorio de agentes</h1>
<p>La página del escritorio todavía no está instalada (connectors/desk/static/index.html).
La API está en <a href="api/openapi.json">api/openapi.json</a>.</p></body></html>
"""


def static_file(root: Path, relative: str) -> Path | None:
    """``relative`` inside ``root``, or None: no hidden parts, no way out of ``root``."""
    parts = [part for part in relative.replace("\\", "/").split("/") if part]
    if not parts or any(part.startswith(".") for part in parts):
        return None
    base = root.resolve()
    try:
        path = (base / Path(*parts)).resolve()
        path.relative_to(base)
    except (ValueError, OSError):
        return None
    return path if path.is_file() else None


def add_page_routes(desk: Blueprint, root: Path = STATIC_DIRECTORY) -> None:
    @desk.get("/", ctx_door=doors.ASSET)
    async def page(request: Request) -> HTTPResponse:
        if not request.path.endswith("/"):  # relative links in the page need the slash
            return response.redirect(request.path + "/", status=308)
        index = static_file(root, "index.html")
        if index is None:
            return response.html(PLACEHOLDER, headers=PAGE_HEADERS)
        return await response.file(index, headers=PAGE_HEADERS, mime_type="text/html; charset=utf-8")

    @desk.get("/static/<relative:path>", ctx_door=doors.ASSET)
    async def static(_request: Request, relative: str) -> HTTPResponse:
        path = static_file(root, relative)
        if path is None:
            return error(404, "no such file", code=ErrorCode.FILE_NOT_FOUND)
        content_type = content_type_of(path.name)
        if content_type.startswith("text/") or content_type in ("application/json", "application/manifest+json"):
            content_type += "; charset=utf-8"
        return await response.file(path, headers=PAGE_HEADERS, mime_type=content_type)

    @desk.get("/health", ctx_door=doors.PUBLIC)
    async def health(_request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})
