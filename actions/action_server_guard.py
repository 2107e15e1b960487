"""Locks the action server (``rasa run actions``) to the Rasa server.

The action server holds the service token, so whoever can call it can end attentions and
write forms. rasa-sdk serves it on every address with no credential; this module, loaded
with the actions package, changes both through rasa-sdk's own plugin hook:

- it listens on 127.0.0.1 unless the operator sets ``SANIC_HOST``;
- every call but ``/health`` must carry ``Authorization: Bearer <secret>`` (the secret is
  ``HANDOFF_ACTION_TOKEN``, or ``HANDOFF_SERVICE_TOKEN`` when that is unset), which
  ``endpoints.yml`` makes Rasa send; without a secret configured every call is refused;
- a POST must be JSON (415 otherwise), so a web page cannot post to it as a "simple"
  cross-site request.
"""

from __future__ import annotations

import logging
import os

import pluggy
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.handoff_api import SERVICE_TOKEN_ENV
from connectors.headers import bearer_token, media_type, same_secret
from connectors.log_hygiene import install_log_hygiene

logger = logging.getLogger(__name__)

ACTION_TOKEN_ENV = "HANDOFF_ACTION_TOKEN"
HOST_ENV = "SANIC_HOST"
LOOPBACK = "127.0.0.1"
OPEN_PATHS = frozenset({"/health"})
JSON_TYPE = "application/json"

hookimpl = pluggy.HookimplMarker("rasa_sdk")


def action_secret() -> str:
    return (os.environ.get(ACTION_TOKEN_ENV) or os.environ.get(SERVICE_TOKEN_ENV) or "").strip()


def refusal(request: Request, secret: str) -> HTTPResponse | None:
    """The answer for a call that may not reach an action, or None when it may."""
    if request.path in OPEN_PATHS:
        return None
    if not same_secret(bearer_token(request.headers.get("Authorization")), secret):
        return response.json({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})
    if request.method == "POST" and media_type(request.headers.get("Content-Type")) != JSON_TYPE:
        return response.json({"error": f"the body must be {JSON_TYPE}"}, status=415)
    return None


class ActionServerGuard:
    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        # rasa-sdk reads SANIC_HOST right after this hook, defaulting to every address.
        os.environ.setdefault(HOST_ENV, LOOPBACK)
        secret = action_secret()
        # The service token is held here too (the actions call the service with it).
        install_log_hygiene(secret, os.environ.get(SERVICE_TOKEN_ENV))
        if not secret:
            logger.error("Neither %s nor %s is set: the action server refuses every call", ACTION_TOKEN_ENV, SERVICE_TOKEN_ENV)

        async def guard(request: Request) -> HTTPResponse | None:
            return refusal(request, secret)

        app.register_middleware(guard, "request")


GUARD = ActionServerGuard()


def install() -> None:
    manager = plugin_manager()
    if not manager.is_registered(GUARD):
        manager.register(GUARD)
