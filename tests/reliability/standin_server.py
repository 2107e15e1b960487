"""The server the crash tests kill: our real channels in a real Sanic process, with a
stand-in for Rasa's agent behind ``on_new_message``.

Why a stand-in and not ``rasa run``: the crash test sends 1,000 webhooks and kills the
server twice with SIGKILL. ``rasa run`` takes about 30 s to load the trained model on two
cores and its NLU makes every turn slow and CPU-bound, so three starts and 1,000 turns
would take minutes, and the timing of a kill relative to the turns would vary from run to
run. This process starts in a few seconds and runs exactly the product code the crash
touches (``MessengerInput``, ``InstagramInput``, ``DeskInput``: signature check, the
durable inbox, the dispatcher, routing, the handoff service and its SQLite database).
Only the agent is replaced, and it is replaced by what the replay logic talks to in a
real Rasa: a tracker store (Rasa's own classes), reachable as ``app.ctx.agent`` like in
``rasa run``. ``tests/reliability/test_real_rasa.py`` kills the real ``rasa run`` too,
with fewer messages.

A turn of the stand-in, like one of Rasa's ``MessageProcessor.handle_message``:

1. fetch or create the customer's tracker (Rasa saves a new tracker at this point);
2. "work" for a few milliseconds (NLU, policies, actions: replies leave during this;
   with ``--reply`` the stand-in sends one, ``eco: <text>``, through the channel's
   output as Rasa's processor does);
3. append the ``UserUttered`` with the message id and save the tracker (Rasa saves once,
   at the end of the turn);
4. append ``channel sender message_id`` to ``turns.log`` and fsync it: the durable
   record that the turn completed (what the customer saw), counted by the tests.

``--memory durable`` uses Rasa's ``SQLTrackerStore`` (a SQLite file that survives the
kill, like a deployment with a SQL tracker store); ``--memory volatile`` uses Rasa's
``InMemoryTrackerStore`` (the default of ``endpoints.yml``), lost at every kill.

Crash points (``--crash MID:POINT``, repeatable) make a kill land exactly in a window
that random kills hit only rarely. The process SIGKILLs itself:

- ``turn_middle``: inside the turn of MID, after the tracker was created, before the end;
- ``turn_done``: right after the turn of MID returned, before the inbox row is marked handled;
- ``recorded``: right after MID was stored in its customer's attention, before the inbox
  row is marked handled.

Configuration comes from the same environment variables as ``credentials.yml``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
from pathlib import Path
from types import SimpleNamespace

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from sanic import Sanic

from connectors.desk.channel import DeskInput
from connectors.instagram import InstagramInput
from connectors.messenger import MessengerInput
from handoff.events import MessageAdded


def credentials(prefix_env: dict[str, str], extra: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    env = prefix_env
    common = dict(
        verify_token=env["META_VERIFY_TOKEN"],
        app_id=env.get("META_APP_ID", ""),
        graph_version="v21.0",
        typing_indicators="false",
        **extra,
    )
    messenger = dict(
        app_secret=env["META_APP_SECRET"],
        page_access_token=env["MESSENGER_PAGE_ACCESS_TOKEN"],
        graph_url=env["META_GRAPH_URL"],
        **common,
    )
    instagram = dict(
        app_secret=env["INSTAGRAM_APP_SECRET"],
        access_token=env["INSTAGRAM_ACCESS_TOKEN"],
        graph_url=env["INSTAGRAM_GRAPH_URL"],
        **common,
    )
    return messenger, instagram


class Crashes:
    def __init__(self, specs: list[str]) -> None:
        self._points = {tuple(spec.rsplit(":", 1)) for spec in specs}

    def due(self, mid: str | None, point: str) -> bool:
        return mid is not None and (mid, point) in self._points

    @staticmethod
    def now() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    @staticmethod
    def soon() -> None:
        # Runs at the loop's next turn: after the current coroutine's next real await,
        # i.e. before the inbox update that follows can commit (it waits on a thread).
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGKILL)


def build_app(args: argparse.Namespace) -> Sanic:
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    crashes = Crashes(args.crash)
    if args.memory == "durable":
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(data / "trackers.db"))
    else:
        store = InMemoryTrackerStore(Domain.empty())
    # Open for the server's whole life: every turn appends and fsyncs a line to it.
    turns_log = open(data / "turns.log", "ab", buffering=0)  # noqa: SIM115
    rng = random.Random()

    async def on_new_message(message: UserMessage) -> None:
        mid = message.message_id
        tracker = await store.get_or_create_tracker(message.sender_id)
        await asyncio.sleep(rng.uniform(args.turn_min, args.turn_max))
        if args.reply and message.output_channel is not None:
            await message.output_channel.send_text_message(message.sender_id, f"eco: {message.text}")
        if crashes.due(mid, "turn_middle"):
            crashes.now()
        tracker.update(UserUttered(message.text, message_id=mid, input_channel=message.input_channel))
        await store.save(tracker)
        turns_log.write(f"{message.input_channel} {message.sender_id} {mid}\n".encode())
        os.fsync(turns_log.fileno())
        if crashes.due(mid, "turn_done"):
            crashes.soon()

    extra = dict(item.split("=", 1) for item in args.credential)
    messenger_credentials, instagram_credentials = credentials(dict(os.environ), extra)
    channels: list[InputChannel] = [
        MessengerInput.from_credentials(messenger_credentials),
        InstagramInput.from_credentials(instagram_credentials),
        DeskInput(service_token=os.environ.get("HANDOFF_SERVICE_TOKEN")),
    ]
    app = Sanic(args.name)
    app.config.ACCESS_LOG = False
    for channel in channels:
        app.blueprint(channel.blueprint(on_new_message), url_prefix=f"/webhooks/{channel.name()}")
    app.ctx.input_channels = channels
    # What the replay logic reads in a real `rasa run`: the agent's tracker store.
    # processor=None: the paused-tracker log and resume are no-ops here.
    app.ctx.agent = SimpleNamespace(tracker_store=store, processor=None, lock_store=None)

    @app.after_server_start
    async def crash_after_attention_records(app_, _loop) -> None:
        if not any(point == "recorded" for _, point in crashes._points):
            return

        def watch(event) -> bool:
            if isinstance(event, MessageAdded) and crashes.due(event.message.mid, "recorded"):
                crashes.soon()
            return False

        app_.ctx.handoff_runtime.service.bus.subscribe(watch)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--memory", choices=("durable", "volatile"), default="durable")
    parser.add_argument("--crash", action="append", default=[], help="MID:POINT")
    parser.add_argument("--credential", action="append", default=[], help="KEY=VALUE added to both channels")
    parser.add_argument("--turn-min", type=float, default=0.002)
    parser.add_argument("--turn-max", type=float, default=0.02)
    parser.add_argument("--reply", action="store_true", help="every turn sends one reply before it completes")
    parser.add_argument("--name", default="standin")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build_app(args).run(host="127.0.0.1", port=args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
