"""CPU per delivery of the webhook's parse (issue 14, parse once): the body's JSON, its items
and their typed events, as ``_parse_delivery`` builds them at receipt, plus what the
dispatcher still parses (nothing for a live item). In-process, no server:

    PYTHONPATH=$PWD .venv/bin/python -m bench.parse_cpu

Numbers are CPU microseconds per delivery (``time.process_time``), one text message per
item, for a single delivery and for Meta's 1,000-item ceiling; the machine's other load
shows in them, so compare runs made side by side.
"""

from __future__ import annotations

import gc
import json
import time

from connectors.meta.channel import _parse_delivery
from connectors.meta.events import parse_stored


def body(items: int) -> bytes:
    messaging = [
        {
            "sender": {"id": f"C{n % 50}"},
            "recipient": {"id": "PAGE"},
            "timestamp": 1700000000000 + n,
            "message": {"mid": f"m_{n}", "text": "hola, necesito ayuda con mi pedido"},
        }
        for n in range(items)
    ]
    return json.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": messaging}]}).encode()


def cpu_per_delivery(items: int, repeats: int) -> float:
    raw = body(items)
    started = time.process_time()
    for _ in range(repeats):
        delivery = _parse_delivery("messenger", "page", raw, 1000)
        assert not hasattr(delivery, "status")
        for item in delivery.items:  # what the dispatcher does: the carried event, or a replay's parse
            _ = item.event if item.event is not None else parse_stored(item.channel, item.payload)
    return (time.process_time() - started) / repeats


def main() -> None:
    gc.freeze()  # as the server does after start (channel.freeze_startup_heap)
    for items, repeats in ((1, 20000), (1000, 20)):
        print(f"{items:5d} items: {cpu_per_delivery(items, repeats) * 1e6:9.1f} us CPU per delivery")


if __name__ == "__main__":
    main()
