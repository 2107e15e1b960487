"""Rasa custom actions (the action server): thin adapters over the handoff HTTP API."""

from actions.action_server_guard import install

# rasa-sdk imports this package before it starts serving: the guard is in place whichever
# way the server is started (`rasa run actions --actions actions` included).
install()
