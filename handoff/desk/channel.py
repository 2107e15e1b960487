"""The agent desk as a Rasa input channel (``credentials.yml``: ``handoff.desk.channel.DeskInput``).

One ``rasa run`` serves the bot channels and everything under ``/webhooks/desk/``: the
service API for the action server now, and the desk page, REST API and WebSocket.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from handoff.desk.service_api import add_service_routes
from handoff.runtime import HandoffRuntime, handoff_runtime
from handoff.service import HandoffService


class DeskInput(InputChannel):
    def __init__(self, service_token: str | None = None) -> None:
        self.service_token = service_token or None
        self._runtime: HandoffRuntime | None = None

    @classmethod
    def name(cls) -> str:
        return "desk"

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> "DeskInput":
        credentials = credentials or {}
        return cls(service_token=credentials.get("service_token") or None)

    def __repr__(self) -> str:  # the token never reaches a log line through repr
        return "DeskInput()"

    @property
    def service(self) -> HandoffService:
        if self._runtime is None:
            raise RuntimeError("The desk channel has not started yet.")
        return self._runtime.service

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        desk = Blueprint("desk_webhook", __name__)

        @desk.listener("before_server_start")
        async def start(app, _loop) -> None:  # type: ignore[no-untyped-def]
            self._runtime = await handoff_runtime(app.ctx)

        @desk.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        add_service_routes(desk, lambda: self.service, lambda: self.service_token)
        return desk
