"""Customer names and pictures, fetched once and cached; the id is the fallback."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.meta.errors import GraphError
from connectors.meta.graph import GraphClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    customer_id: str
    name: str
    picture_url: str | None = None
    username: str | None = None
    found: bool = True


ProfileReader = Callable[[str, Mapping[str, Any]], Profile]


class ProfileCache:
    """Picture URLs expire and names change, so entries live ``ttl`` seconds; a failed
    lookup is cached briefly so a broken token does not turn every message into a call."""

    def __init__(
        self,
        client: GraphClient,
        fields: str,
        reader: ProfileReader,
        ttl: float = 6 * 3600,
        failure_ttl: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._fields = fields
        self._reader = reader
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Profile]] = {}
        self._inflight: dict[str, asyncio.Task[Profile]] = {}

    async def get(self, customer_id: str) -> Profile:
        cached = self._entries.get(customer_id)
        if cached and cached[0] > self._clock():
            return cached[1]
        # Concurrent messages of one new customer share one lookup.
        task = self._inflight.get(customer_id)
        if task is None:
            task = asyncio.ensure_future(self._fetch(customer_id))
            self._inflight[customer_id] = task
            task.add_done_callback(lambda _: self._inflight.pop(customer_id, None))
        return await asyncio.shield(task)

    async def _fetch(self, customer_id: str) -> Profile:
        try:
            profile = self._reader(customer_id, await self._client.get_object(customer_id, self._fields))
            expires = self._clock() + self._ttl
        except GraphError as error:
            logger.info("No profile for customer %s (%s); using the id as the name.", customer_id, error.kind.value)
            profile = Profile(customer_id, name=customer_id, found=False)
            expires = self._clock() + self._failure_ttl
        self._entries[customer_id] = (expires, profile)
        return profile
