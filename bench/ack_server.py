"""``python -m bench.ack_server --kind ours|bare --port P``: the two servers of part 1.

Both are Sanic 21.12 with uvloop, one worker, on 127.0.0.1, no access log: the stack
``rasa run`` serves webhooks on.

* ``ours``: our real ``MessengerInput`` registered the way ``rasa run`` registers input
  channels (``rasa.core.channels.channel.register``), with the handoff runtime, the
  durable inbox (SQLite by default, ``--database-url``) and the dispatcher, talking to a
  fake Graph API (``--graph-url``). Only the Rasa agent is replaced by one that does
  nothing (``NoBot``): part 1 measures the webhook, part 2 the bot. ``--variant`` gives
  two diagnostic versions (see ``main``) used to explain the figures, never as "ours".
* ``bare``: one Sanic handler that checks ``X-Hub-Signature-256`` with the same function
  our connector uses, parses the JSON and answers 200. Nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os


class NoBot:
    """Stands in for ``rasa.core.agent.Agent``: every turn is over at once."""

    processor = None
    tracker_store = None

    async def handle_message(self, _message) -> None:
        return None


def build(kind: str, graph_url: str | None, variant: str = "full"):
    from sanic import Sanic, response

    from bench.servers import APP_ID, APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN
    from connectors.meta.channel import SIGNATURE_HEADER, is_valid_signature

    app = Sanic(f"bench_ack_{kind}")

    @app.get("/health")
    async def health(_request):
        return response.json({"status": "ok"})

    if kind == "bare":
        secrets = (APP_SECRET,)

        @app.post("/webhooks/messenger/webhook")
        async def receive(request):
            body = request.body or b""
            if not is_valid_signature(body, request.headers.get(SIGNATURE_HEADER), secrets):
                return response.json({"error": "invalid signature"}, status=403)
            try:
                json.loads(body)
            except ValueError:
                return response.json({"error": "body is not JSON"}, status=400)
            return response.text("EVENT_RECEIVED")

        return app

    from rasa.core.channels.channel import register

    from connectors.messenger import MessengerInput

    credentials = dict(
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        page_access_token=PAGE_TOKEN,
        graph_url=graph_url,
        graph_version="v21.0",
        app_id=APP_ID,
    )
    if variant == "no-typing":
        credentials["typing_indicators"] = "false"  # a documented channel option
    if variant == "ack-only":
        # Diagnostic only: items are acknowledged and stored but never dispatched, to see
        # what the acknowledgement costs without the work that follows it.
        from connectors.meta.inbox import ConversationDispatcher

        ConversationDispatcher.submit = lambda self, items: None  # type: ignore[method-assign]
    channel = MessengerInput.from_credentials(credentials)
    app.ctx.agent = NoBot()
    register([channel], app, route="/webhooks/")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("ours", "bare"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graph-url")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--variant",
        choices=("full", "no-typing", "ack-only"),
        default="full",
        help="ours only: full (the product), no-typing (typing_indicators: false), "
        "ack-only (diagnostic: nothing is dispatched after the acknowledgement)",
    )
    args = parser.parse_args()
    if args.database_url:
        os.environ["HANDOFF_DATABASE_URL"] = args.database_url
    logging.basicConfig(level=logging.WARNING)
    app = build(args.kind, args.graph_url, args.variant)
    app.run(host="127.0.0.1", port=args.port, access_log=False, workers=1, motd=False)


if __name__ == "__main__":
    main()
