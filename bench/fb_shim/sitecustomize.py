"""Benchmark-only shim: points Rasa's built-in ``facebook`` channel at the fake Graph API.

Rasa's ``FacebookInput`` sends through the ``fbmessenger`` library, whose
``MessengerClient.__init__`` hard-codes ``https://graph.facebook.com/v{api_version}`` in
``self.graph_url`` (only the version is configurable, and Rasa does not even pass that).
Every request the client makes is built from ``self.graph_url``, so replacing that one
attribute after ``__init__`` moves all of them, and nothing else changes: the same
synchronous ``requests`` calls, the same bodies, the same access token in the query.

This file is only on ``PYTHONPATH`` of the benchmark's ``rasa run`` subprocess for the
built-in channel (``bench/servers.py: facebook_env``), and only acts when
``BENCH_FB_GRAPH_URL`` is set. Python imports ``sitecustomize`` at start-up by itself.
"""

import os

_BASE = os.environ.get("BENCH_FB_GRAPH_URL")

if _BASE:
    import fbmessenger

    _GRAPH_URL = _BASE.rstrip("/")

    _original_init = fbmessenger.MessengerClient.__init__

    def _init_against_fake_graph(self, page_access_token, **kwargs):
        _original_init(self, page_access_token, **kwargs)
        self.graph_url = f"{_GRAPH_URL}/v{self.api_version}"

    fbmessenger.MessengerClient.__init__ = _init_against_fake_graph
