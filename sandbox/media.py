"""Media the phone page sends: uploads kept in memory, generated samples, avatars.

Meta hands the receiver a CDN URL for every attachment; the sandbox plays that CDN. Uploads
live in memory only (a dev tool: nothing is written to disk) under an overall size cap.
Anything that is not a plain image, audio or video is served as a download, with
`nosniff`, so an uploaded HTML or SVG file can never run script on the sandbox's origin.
"""

from __future__ import annotations

import collections
import html
import io
import math
import secrets
import struct
import wave
from collections import OrderedDict
from dataclasses import dataclass

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # Meta's attachment limit
MAX_STORE_BYTES = 200 * 1024 * 1024

# Content types a browser may render inline from our origin without running script.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif")


@dataclass(frozen=True)
class Media:
    """One stored file."""

    media_id: str
    filename: str
    content_type: str
    data: bytes

    @property
    def kind(self) -> str:
        """Meta attachment type for this file: image, video, audio or file."""
        return attachment_kind(self.content_type)


def attachment_kind(content_type: str) -> str:
    """Map a MIME type to Meta's attachment type (SVG counts as a file: it can hold script)."""
    if content_type in INLINE_TYPES:
        return "image"
    if content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "file"


def safe_headers(media: Media) -> dict[str, str]:
    """Response headers that keep uploaded content inert on the sandbox's origin."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if media.kind == "file":
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Disposition"] = f'attachment; filename="{_ascii_filename(media.filename)}"'
    else:
        headers["Content-Type"] = media.content_type
    return headers


class MediaStore:
    """In-memory uploads, oldest evicted first when the total cap is reached."""

    def __init__(self, max_bytes: int = MAX_STORE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Media] = collections.OrderedDict()
        self._size = 0

    def add(self, data: bytes, *, filename: str, content_type: str) -> Media:
        """Store a file and return it (its id is unguessable)."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError("file larger than Meta's 25 MB attachment limit")
        media = Media(secrets.token_urlsafe(12), _clean_filename(filename), content_type or "application/octet-stream", data)
        self._items[media.media_id] = media
        self._size += len(data)
        while self._size > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._size -= len(old.data)
        return media

    def get(self, media_id: str) -> Media | None:
        """A stored file, or None (unknown or evicted)."""
        return self._items.get(media_id)


def _clean_filename(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "archivo"
    return "".join(ch for ch in name if ch.isprintable())[:120]


def _ascii_filename(filename: str) -> str:
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "._- " else "_" for ch in filename) or "file"


# -- generated samples ---------------------------------------------------------------------


def tone_wav(seconds: float = 1.2, frequency: float = 523.25, rate: int = 16000) -> bytes:
    """A short sine tone as WAV: a real, playable "voice note" with no binary in the repo."""
    frames = bytearray()
    total = int(seconds * rate)
    for i in range(total):
        fade = min(1.0, i / 800, (total - i) / 800)  # no clicks at the ends
        frames += struct.pack("<h", int(9000 * fade * math.sin(2 * math.pi * frequency * i / rate)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def _svg(width: int, height: int, inner: str) -> bytes:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{inner}</svg>'
    ).encode()


SAMPLES: dict[str, tuple[str, bytes]] = {
    "image.svg": (
        "image/svg+xml",
        _svg(
            480,
            320,
            '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#7fd3ff"/>'
            '<stop offset="1" stop-color="#0a66c2"/></linearGradient></defs><rect width="480" height="320" fill="url(#g)"/>'
            '<circle cx="380" cy="80" r="40" fill="#ffe27a"/><path d="M0 320 L150 150 L260 260 L340 190 L480 320Z" '
            'fill="#1d5b2c"/><text x="24" y="300" font-family="sans-serif" font-size="22" fill="#fff">'
            "Foto de ejemplo</text>",
        ),
    ),
    "sticker.svg": (
        "image/svg+xml",
        _svg(
            200,
            200,
            '<circle cx="100" cy="100" r="92" fill="#ffd43b"/><circle cx="70" cy="80" r="11" fill="#333"/>'
            '<circle cx="130" cy="80" r="11" fill="#333"/><path d="M55 120 Q100 170 145 120" stroke="#333" '
            'stroke-width="10" fill="none" stroke-linecap="round"/>',
        ),
    ),
    "story.svg": (
        "image/svg+xml",
        _svg(
            360,
            640,
            '<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#feda75"/>'
            '<stop offset=".5" stop-color="#d62976"/><stop offset="1" stop-color="#4f5bd5"/></linearGradient></defs>'
            '<rect width="360" height="640" fill="url(#s)"/><text x="180" y="320" text-anchor="middle" '
            'font-family="sans-serif" font-size="30" fill="#fff">Historia de ejemplo</text>',
        ),
    ),
    "reel.svg": (
        "image/svg+xml",
        _svg(
            360,
            640,
            '<rect width="360" height="640" fill="#222"/><polygon points="150,280 150,360 220,320" fill="#fff"/>'
            '<text x="180" y="420" text-anchor="middle" font-family="sans-serif" font-size="26" fill="#fff">Reel</text>',
        ),
    ),
    "voice.wav": ("audio/wav", tone_wav()),
    "factura.txt": ("text/plain", b"Factura de ejemplo 0001\nTotal: 99.90\n"),
}


def avatar_svg(name: str, color: str = "#0084ff") -> bytes:
    """A round avatar with the person's initials (escaped: the name is user input)."""
    initials = "".join(part[0] for part in name.split()[:2]).upper() or "?"
    safe = html.escape(initials, quote=True)
    safe_color = color if (color.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in color[1:])) else "#888"
    return _svg(
        128,
        128,
        f'<circle cx="64" cy="64" r="64" fill="{safe_color}"/><text x="64" y="80" '
        f'text-anchor="middle" font-family="sans-serif" font-size="48" fill="#fff">{safe}</text>',
    )
