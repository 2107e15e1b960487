"""The agent desk as a Rasa input channel (``credentials.yml``: ``connectors.desk.channel.DeskInput``).

One ``rasa run`` serves the bot channels and everything under ``/webhooks/desk/``:

- ``/``, ``/static/...``: the desk page (``connectors.desk.page``); ``/health``
- ``/api/...``: the REST API agents' browsers call (``connectors.desk.api``, docs/desk-api.md;
  its OpenAPI document: ``connectors.desk.openapi``)
- ``/ws``: live updates (``connectors.desk.live``)
- ``/media/...``: files agents attach, public for Meta (``connectors.desk.uploads``)
- ``/service/...``: the service API for the action server (``connectors.desk.service_api``)

Credentials: ``service_token`` (the action server's), ``session_secret`` (signs agents'
sessions; empty: a random one per start), optional ``session_lifetime`` (seconds, 12 h),
``uploads_dir`` and ``public_url`` (else ``HANDOFF_UPLOADS_DIR``, ``HANDOFF_PUBLIC_URL``).
``public_url`` is the address agents open the desk at: the base of the media URLs and the
only ``Origin`` the WebSocket accepts (unset: the request's own host, for a local sandbox).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from connectors.desk import doors
from connectors.desk.accounts import (
    DEFAULT_SESSION_LIFETIME,
    SessionTokens,
    ensure_demo_accounts,
    random_session_secret,
)
from connectors.desk.api import add_api_routes
from connectors.desk.auth import DeskAuth
from connectors.desk.live import LiveHub, add_live_routes
from connectors.desk.openapi import add_openapi_routes
from connectors.desk.origins import OriginRule
from connectors.desk.page import add_page_routes
from connectors.desk.service_api import add_service_routes
from connectors.desk.uploads import PUBLIC_URL_VARIABLE, UploadStore, add_media_routes
from connectors.log_hygiene import install_log_hygiene
from connectors.runtime import HandoffRuntime, handoff_runtime, serve_runtime
from handoff.service import HandoffService

logger = logging.getLogger(__name__)

SANDBOX_VARIABLE = "HANDOFF_SANDBOX"


def _lifetime(value: Any) -> timedelta:
    if value in (None, ""):
        return DEFAULT_SESSION_LIFETIME
    seconds = float(value)
    if seconds <= 0:
        raise ValueError("session_lifetime must be a positive number of seconds")
    return timedelta(seconds=seconds)


class DeskInput(InputChannel):
    def __init__(
        self,
        service_token: str | None = None,
        session_secret: str | None = None,
        session_lifetime: Any = None,
        uploads_dir: str | None = None,
        public_url: str | None = None,
    ) -> None:
        self.service_token = service_token or None
        self._random_secret = not session_secret
        session_secret = session_secret or random_session_secret()
        install_log_hygiene(self.service_token, session_secret)  # their values never reach a log line
        self.auth = DeskAuth(SessionTokens(session_secret, _lifetime(session_lifetime)), lambda: self.service)
        # Not the uploads' default address: with nothing configured the socket falls back to
        # same-host pages instead of trusting 127.0.0.1:5005.
        self.origins = OriginRule(public_url or os.environ.get(PUBLIC_URL_VARIABLE) or None)
        self.live = LiveHub(lambda: self.service, lambda: self.auth)
        self.uploads = UploadStore(uploads_dir, public_url)
        self._runtime: HandoffRuntime | None = None

    @classmethod
    def name(cls) -> str:
        return "desk"

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> DeskInput:
        credentials = credentials or {}
        return cls(
            service_token=credentials.get("service_token") or None,
            session_secret=credentials.get("session_secret") or None,
            session_lifetime=credentials.get("session_lifetime"),
            uploads_dir=credentials.get("uploads_dir") or None,
            public_url=credentials.get("public_url") or None,
        )

    def __repr__(self) -> str:  # secrets never reach a log line through repr
        return "DeskInput()"

    @property
    def service(self) -> HandoffService:
        if self._runtime is None:
            raise RuntimeError("The desk channel has not started yet.")
        return self._runtime.service

    async def _start(self, holder: Any) -> None:
        self._runtime = await handoff_runtime(holder)
        if self._random_secret:
            logger.warning(
                "No desk session secret (HANDOFF_SESSION_SECRET): a random one is used, so agents' sessions "
                "end when the server restarts and are not shared between instances."
            )
        if os.environ.get(SANDBOX_VARIABLE) == "1":
            try:
                accounts = await ensure_demo_accounts(self.service)
                logger.info("Sandbox: demo desk accounts ready (%s).", ", ".join(account.username for account in accounts))
            except Exception:
                logger.exception("Creating the sandbox's demo desk accounts failed.")

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        desk = Blueprint("desk_webhook", __name__)
        # First: the runtime (and its sweepers) exists before the desk starts, and closes
        # after the desk's stop, whether or not a Meta channel runs in this process.
        serve_runtime(desk)

        @desk.listener("before_server_start")
        async def start(app, _loop) -> None:
            await self._start(app.ctx)

        @desk.listener("before_server_stop")
        async def stop(_app, _loop) -> None:
            await self.live.close_all()

        add_page_routes(desk)
        add_api_routes(desk, self)
        add_openapi_routes(desk)
        add_live_routes(desk, lambda: self.live)
        add_media_routes(desk, lambda: self.uploads)
        add_service_routes(desk, lambda: self.service)
        # Last: the keeper of the doors every route above declared.
        keys = doors.Keys(
            session=lambda token: self.auth.session(token), service_token=lambda: self.service_token, origins=self.origins
        )
        doors.install(desk, keys)
        return desk


__all__ = ["DeskInput"]
