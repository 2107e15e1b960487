"""Files agents attach: stored under ``var/uploads/<random>/<safe name>`` and served without
authentication at an unguessable URL (Meta fetches them from there to deliver them).

Served with ``X-Content-Type-Options: nosniff`` and a sandboxing Content-Security-Policy;
anything but images, video and audio is a download (``Content-Disposition: attachment``),
so an uploaded page or SVG never runs on the desk's origin.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.desk import doors
from connectors.desk.http import error
from connectors.headers import media_type
from handoff.error_codes import ErrorCode

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_UPLOADS_DIR = "var/uploads"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5005"
UPLOADS_DIR_VARIABLE = "HANDOFF_UPLOADS_DIR"
PUBLIC_URL_VARIABLE = "HANDOFF_PUBLIC_URL"
MEDIA_PATH = "/webhooks/desk/media"

# Types some systems' mime.types lack or spell differently.
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".webmanifest": "application/manifest+json",
    ".map": "application/json",
}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
INLINE_KINDS = ("image", "video", "audio")
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def content_type_of(name: str) -> str:
    extension = os.path.splitext(name)[1].lower()
    return CONTENT_TYPES.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def kind_of(content_type: str | None) -> str:
    """image, video, audio or file, as Meta's Send API names attachment types."""
    main = media_type(content_type)
    major = main.split("/")[0]
    if major in INLINE_KINDS and main != "image/svg+xml":
        return major
    return "file"


def safe_name(name: str | None, content_type: str | None = None) -> str:
    """A file name safe in a path and a URL: the last path part, ASCII letters, digits,
    '.', '_' and '-' (accents dropped, anything else '_'), never hidden, at most 100
    characters, with an extension that agrees with the declared ``content_type``."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "archivo"
    stem, extension = os.path.splitext(base)
    stem, extension = stem[:80] or "archivo", extension[:15]
    declared = media_type(content_type)
    if declared and declared != "application/octet-stream" and kind_of(content_type_of(stem + extension)) != kind_of(declared):
        extension = EXTENSIONS.get(declared) or mimetypes.guess_extension(declared) or ".bin"
    return stem + extension


@dataclass(frozen=True)
class Upload:
    key: str
    name: str
    url: str
    type: str  # image, video, audio or file
    size: int


class TooLarge(Exception):
    pass


class UploadStore:
    def __init__(self, root: str | Path | None = None, public_url: str | None = None) -> None:
        self.root = Path(root or os.environ.get(UPLOADS_DIR_VARIABLE) or DEFAULT_UPLOADS_DIR)
        self.public_url = (public_url or os.environ.get(PUBLIC_URL_VARIABLE) or DEFAULT_PUBLIC_URL).rstrip("/")

    def save(self, filename: str | None, content_type: str | None, data: bytes) -> Upload:
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLarge(f"files are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        key = secrets.token_urlsafe(24)
        name = safe_name(filename, content_type)
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=False)
        (folder / name).write_bytes(data)
        kind = kind_of(content_type_of(name))  # agrees with the declared type (safe_name)
        return Upload(key, name, f"{self.public_url}{MEDIA_PATH}/{key}/{quote(name)}", kind, len(data))

    def path_of(self, key: str, name: str) -> Path | None:
        if not _KEY.match(key) or name != safe_name(name) or name.startswith("."):
            return None
        path = self.root / key / name
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return path if path.is_file() else None


def media_headers(name: str) -> dict[str, str]:
    content_type = content_type_of(name)
    inline = kind_of(content_type) != "file"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{name}"',
    }
    return headers


def add_media_routes(desk: Blueprint, store: Callable[[], UploadStore]) -> None:
    @desk.get("/media/<key:str>/<name:str>", ctx_door=doors.ASSET)
    async def media(_request: Request, key: str, name: str) -> HTTPResponse:
        path = store().path_of(key, name)
        if path is None:
            return error(404, "no such file", code=ErrorCode.FILE_NOT_FOUND)
        return await response.file(path, headers=media_headers(name), mime_type=content_type_of(name))
