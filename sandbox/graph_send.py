"""The fake Send API: ``POST /{version}/{node}/messages``, with its scripted faults, and what
Meta does once it accepted a message (echo, delivery, read webhooks; the listeners)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .graph_endpoint import GraphEndpoint, token_error
from .graph_faults import FaultQueue
from .graph_limits import validate_send
from .graph_records import RecordedRequest
from .meta import Channel, graph_error, new_mid, now_ms
from .sender import WebhookSender
from .webhooks import WebhookFactory

# The logger name the fake Graph API logged under before the Send API moved out of graph_api.py.
log = logging.getLogger("sandbox.graph_api")

Listener = Callable[[RecordedRequest], Awaitable[None] | None]


class SendAPI(GraphEndpoint):
    """Message sends and sender actions, as ``FakeGraphAPI`` answers them."""

    webhooks: WebhookSender | None
    app_id: str
    emit_echoes: bool
    emit_deliveries: bool
    auto_read: bool
    faults: FaultQueue
    _listeners: list[Listener]

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(record)` for every accepted send (the phone page uses it)."""
        self._listeners.append(listener)

    async def flush_webhooks(self, timeout: float = 5.0) -> None:
        """Wait until the echoes / deliveries / reads triggered so far were POSTed."""
        if self.webhooks is not None:
            await self.webhooks.drain(timeout)

    async def _on_send(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, kind="message")
        if isinstance(record.json, Mapping) and "sender_action" in record.json:
            record.kind = "sender_action"
        if record.channel is None:
            return await self._answer(request, record, 400, token_error(), "error")
        fault = self.faults.take(record.kind, record.recipient_id)
        if fault is not None:
            record.fault = fault.action
        if fault is not None and fault.action == "error":
            return await self._answer(request, record, fault.http_status, fault.error_body(), "fault", fault.headers)
        problem = validate_send(record.channel, record.json)  # type: ignore[arg-type]
        if fault is not None and fault.action == "delay" and not fault.accept:
            await self._sleep(fault.seconds)
            if request.transport is None or request.transport.is_closing():
                record.outcome = "dropped"  # the client gave up before "Meta" processed it
                self._waiters.changed(record)
                return web.Response(status=504)
        if problem:
            return await self._answer(request, record, 400, graph_error(problem, code=100), "error")
        if fault is not None and fault.action == "close":
            if fault.accept:  # Meta processed it, then the connection died
                self._accept(record)
                await self._after_accept(record)
            record.outcome = "closed"
            self._waiters.changed(record)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)  # never reaches the client
        payload = self._accept(record)
        if fault is not None and fault.action == "delay":  # accept=True: processed, answer late
            await self._after_accept(record)
            await self._sleep(fault.seconds)
            return await self._answer(request, record, 200, payload, "ok")
        if fault is not None and fault.action == "early_echo":
            await self._emit(record, wait=True)
            response = await self._answer(request, record, 200, payload, "ok")
            await self._notify_listeners(record)
            return response
        response = await self._answer(request, record, 200, payload, "ok")
        await self._after_accept(record)  # after the answer left: echoes follow the response
        return response

    def _accept(self, record: RecordedRequest) -> dict[str, Any]:
        record.accepted = True
        recipient = record.recipient_id
        if record.kind == "sender_action":
            return {"recipient_id": recipient}
        record.message_id = new_mid("messenger")  # Meta answers m_... on both channels
        record.extra["accepted_ms"] = now_ms()
        return {"recipient_id": recipient, "message_id": record.message_id}

    async def _after_accept(self, record: RecordedRequest) -> None:
        await self._emit(record, wait=False)
        await self._notify_listeners(record)

    async def _notify_listeners(self, record: RecordedRequest) -> None:
        self._waiters.changed(record)
        for listener in list(self._listeners):
            try:
                outcome = listener(record)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:  # the phone page must not break the Graph API
                log.exception("Graph API listener failed")

    async def _emit(self, record: RecordedRequest, *, wait: bool) -> None:
        """Queue echo -> delivery -> read for an accepted message, as Meta would send them."""
        if self.webhooks is None or record.kind != "message" or record.channel is None:
            return
        channel: Channel = record.channel  # type: ignore[assignment]
        recipient, mid, message = record.recipient_id or "", record.message_id or "", record.message or {}
        factory = WebhookFactory(channel, customer_id=recipient, account_id=self.account_id(channel))
        key = (channel, recipient)
        futures = []
        if self.emit_echoes:
            futures.append(self.webhooks.enqueue(channel, factory.echo_of(message, mid=mid, app_id=self.app_id), key=key))
        if self.emit_deliveries and channel == "messenger":
            futures.append(self.webhooks.enqueue(channel, factory.delivery([mid]), key=key))
        if self.auto_read:
            read = factory.read(mid=mid) if channel == "instagram" else factory.read()
            futures.append(self.webhooks.enqueue(channel, read, key=key))
        if wait and futures:
            await asyncio.gather(*futures[:1])  # the echo must have been answered
