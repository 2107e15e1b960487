"""Rasa custom actions (the action server): thin adapters over the handoff HTTP API."""
