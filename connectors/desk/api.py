"""The desk's REST API under ``/webhooks/desk/api`` (docs/desk-api.md is the contract).

Every call but login (and the OpenAPI document) needs a session; each checks what the
caller may do: the visibility rule (``handoff.visibility``) for reading, the domain's
permissions for every change (``handoff.permissions``, raised as Forbidden -> 403).

The routes are tables - sessions and attentions (``connectors.desk.api_attentions``),
history, labels, uploads and accounts (``connectors.desk.api_records``) - each route
declared once, registered from :data:`API_ROUTES` and documented from it
(connectors/desk/openapi.py, which serves the document itself).
"""

from __future__ import annotations

from sanic import Blueprint

from connectors.desk.api_attentions import ATTENTION_ROUTES, SESSION_ROUTES
from connectors.desk.api_records import RECORD_ROUTES
from connectors.desk.parts import DeskParts
from connectors.desk.routes import register

API_ROUTES = [*SESSION_ROUTES, *ATTENTION_ROUTES, *RECORD_ROUTES]


def add_api_routes(desk: Blueprint, channel: DeskParts) -> None:
    """The REST routes, on the desk channel's blueprint."""
    register(desk, API_ROUTES, channel)
