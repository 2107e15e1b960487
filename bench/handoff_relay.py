"""``python -m bench.handoff_relay --port P``: the baseline of part 3, a bare webhook-to-WebSocket relay.

The least any server must do to put a customer's message on the owning agent's screen, on
the stack ``rasa run`` serves the desk on (Sanic 21.12 + uvloop, one worker, its
``websockets`` connections, no access log, loopback):

* ``GET /ws?agent=<id>``: an agent's socket; ``{"type": "ready"}`` first, as the desk sends.
* ``POST /routes``: ``{customer_id: agent_id}``, who owns which customer (set once before the
  load, as opening the attentions does on our side).
* ``POST /webhooks/messenger/webhook``: checks ``X-Hub-Signature-256`` with the function our
  connector uses, parses the JSON, and sends one JSON frame per message item (the text,
  in the desk's ``message.added`` shape) to every socket of the customer's owner, then
  answers 200.

Nothing is stored, nothing survives a restart, nobody else is told: so our figures over
this relay's, at the same rate in the same minutes, are what durability, the attention
lookup, the tracker line and the desk's own rendering and filtering cost.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any


def build():
    from sanic import Sanic, response

    from bench.servers import APP_SECRET
    from connectors.meta.channel import SIGNATURE_HEADER, is_valid_signature

    app = Sanic("bench_handoff_relay")
    secrets = (APP_SECRET,)
    owners: dict[str, int] = {}
    sockets: dict[int, set[Any]] = {}

    @app.get("/health")
    async def health(_request):
        return response.json({"status": "ok"})

    @app.post("/routes")
    async def routes(request):
        owners.update({str(customer): int(agent) for customer, agent in (request.json or {}).items()})
        return response.json({"customers": len(owners)})

    @app.websocket("/ws")
    async def live(request, ws):
        agent = int(request.args.get("agent", "0"))
        sockets.setdefault(agent, set()).add(ws)
        try:
            await ws.send(json.dumps({"type": "ready", "agent": {"id": agent}}))
            while await ws.recv() is not None:
                pass
        finally:
            sockets.get(agent, set()).discard(ws)

    @app.post("/webhooks/messenger/webhook")
    async def receive(request):
        body = request.body or b""
        if not is_valid_signature(body, request.headers.get(SIGNATURE_HEADER), secrets):
            return response.json({"error": "invalid signature"}, status=403)
        try:
            payload = json.loads(body)
        except ValueError:
            return response.json({"error": "body is not JSON"}, status=400)
        for entry in payload.get("entry", ()):
            for item in entry.get("messaging", ()):
                customer = item.get("sender", {}).get("id")
                message = item.get("message") or {}
                frame = json.dumps(
                    {"type": "message.added", "message": {"text": message.get("text"), "direction": "in", "author": "customer"}},
                    ensure_ascii=False,
                )
                for ws in list(sockets.get(owners.get(customer, -1), ())):
                    await ws.send(frame)
        return response.text("EVENT_RECEIVED")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build().run(host="127.0.0.1", port=args.port, access_log=False, workers=1, motd=False)


if __name__ == "__main__":
    main()
