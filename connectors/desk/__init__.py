"""The agent desk's web layer: a Rasa input channel serving the desk page, its REST API and
WebSocket, and the service API the action server calls. It adapts the handoff domain to
HTTP; the domain never imports it."""
