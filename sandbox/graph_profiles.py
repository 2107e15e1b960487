"""The fake Graph API's nodes: ``GET /{version}/me`` (the Page or Instagram account) and
``GET /{version}/{user_id}`` (a customer's profile, from the profiles a test added)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .graph_endpoint import GraphEndpoint, token_error
from .graph_faults import FaultQueue
from .meta import Channel, graph_error


class ProfileAPI(GraphEndpoint):
    """Account and profile lookups, as ``FakeGraphAPI`` answers them."""

    page_name: str
    profiles: dict[str, dict[str, Any]]
    faults: FaultQueue

    def add_profile(self, user_id: str, **fields: Any) -> None:
        """Make `GET /{version}/{user_id}` answer with these fields (merged into any previous)."""
        self.profiles.setdefault(str(user_id), {}).update(fields)

    def remove_profile(self, user_id: str) -> None:
        """Forget a profile: lookups answer code 100 / subcode 33 again."""
        self.profiles.pop(str(user_id), None)

    async def _on_node(self, request: web.Request) -> web.StreamResponse:
        node = request.match_info["node"]
        record = await self._record(request, kind="account" if node == "me" else "profile")
        if record.channel is None:
            return await self._answer(request, record, 400, token_error(), "error")
        fault = self.faults.take(record.kind, record.target_id)
        if fault is not None:
            record.fault = fault.action
            if fault.action == "error":
                return await self._answer(request, record, fault.http_status, fault.error_body(), "fault", fault.headers)
            if fault.action == "delay":
                await self._sleep(fault.seconds)
            if fault.action == "close":
                record.outcome = "closed"
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=502)
        if node == "me":
            return await self._answer(request, record, 200, self._me(record.channel), "ok")  # type: ignore[arg-type]
        profile = self.profiles.get(node)
        if profile is None:
            message = (
                f"Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due "
                "to missing permissions, or does not support this operation."
            )
            return await self._answer(
                request, record, 400, graph_error(message, code=100, subcode=33, error_type="GraphMethodException"), "error"
            )
        fields = [f.strip() for f in request.query.get("fields", "").split(",") if f.strip()] or ["name"]
        payload = {f: profile[f] for f in fields if f in profile and f != "id"}
        payload["id"] = node
        return await self._answer(request, record, 200, payload, "ok")

    def _me(self, channel: Channel) -> dict[str, Any]:
        if channel == "messenger":
            return {"id": self.page_id, "name": self.page_name}
        return {"id": self.ig_account_id, "username": self.page_name.lower().replace(" ", "_"), "name": self.page_name}
