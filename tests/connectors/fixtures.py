"""Webhook fixtures (tests/fixtures/webhooks, written from Meta's documentation) and envelopes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.connectors.harness import IG_ACCOUNT_ID, PAGE_ID

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
OBJECTS = {"messenger": "page", "instagram": "instagram"}
ACCOUNTS = {"messenger": PAGE_ID, "instagram": IG_ACCOUNT_ID}


def item(name: str) -> dict[str, Any]:
    """One messaging item, e.g. ``item("messenger/text")``."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def envelope(channel: str, items: Iterable[Any], key: str = "messaging") -> dict[str, Any]:
    """A delivery of ``items``: any JSON values, since the hostile tests send non-objects too."""
    return {"object": OBJECTS[channel], "entry": [{"id": ACCOUNTS[channel], "time": 1, key: list(items)}]}


def with_mid(raw: dict[str, Any], mid: str, sender: str | None = None) -> dict[str, Any]:
    """A copy of an item with another message id (and customer)."""
    copied = copy.deepcopy(raw)
    for key in ("message", "postback"):
        if key in copied:
            copied[key]["mid"] = mid
    if sender is not None:
        copied["sender"]["id"] = sender
    return copied
