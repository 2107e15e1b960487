"""What the desk's REST routes need of the desk channel, as a type of its own: the routes
are registered by the channel, so naming the channel's class here would be a circle."""

from __future__ import annotations

from typing import Protocol

from connectors.desk.auth import DeskAuth
from connectors.desk.live import LiveHub
from connectors.desk.uploads import UploadStore
from handoff.service import HandoffService


class DeskParts(Protocol):
    auth: DeskAuth
    live: LiveHub
    uploads: UploadStore

    @property
    def service(self) -> HandoffService: ...
