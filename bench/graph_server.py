"""``python -m bench.graph_server --port P``: the sandbox's FakeGraphAPI in its own process.

Part 1 (webhook acknowledgement) runs it apart from the load generator, because at
hundreds of webhooks per second the connector's Graph calls after each acknowledgement
(profile, mark_seen, typing) would otherwise compete with the generator for one event
loop. Every customer has a profile here, as with Meta. Recorded requests are dropped
every second so memory stays flat during long runs. Stops on SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench.servers import INSTAGRAM_TOKEN, PAGE_TOKEN
from sandbox.graph_api import FakeGraphAPI


class EveryoneHasAProfile(dict):
    """``FakeGraphAPI.profiles``: a made-up name for any customer id."""

    def get(self, key, default=None):
        return super().get(key) or {"first_name": "Cliente", "last_name": str(key)[-6:]}


async def serve(port: int) -> None:
    api = FakeGraphAPI(
        {PAGE_TOKEN: "messenger", INSTAGRAM_TOKEN: "instagram"}, port=port, emit_echoes=False, emit_deliveries=False
    )
    api.profiles = EveryoneHasAProfile()
    await api.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            api.requests.clear()
    await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
