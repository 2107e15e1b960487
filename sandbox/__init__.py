"""Local Meta sandbox: a fake Graph API, Meta-shaped signed webhooks and a "customer phone" page.

A development and demonstration tool, outside the product's import graph: it never imports
`connectors`, `handoff` or `actions`, and the product never imports it. Tests may.

    python -m sandbox --port 5100 --rasa-url http://127.0.0.1:5005
"""

from .graph_api import FakeGraphAPI
from .graph_faults import Fault
from .graph_records import RecordedRequest, WaitTimeout
from .sender import WebhookResult, WebhookSender
from .signing import sign, sign_sha1
from .webhooks import WebhookFactory, batch, events_of, mid_of

__all__ = [
    "FakeGraphAPI",
    "Fault",
    "RecordedRequest",
    "WaitTimeout",
    "WebhookFactory",
    "WebhookResult",
    "WebhookSender",
    "batch",
    "events_of",
    "mid_of",
    "sign",
    "sign_sha1",
]
