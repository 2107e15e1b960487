"""The handoff service: every operation on attentions, for the adapters to call.

Each operation checks who may do it (``handoff.permissions``) and whether the move exists
(``handoff.states``), changes the database in one transaction with a conditional update
(the loser of a race gets ``Conflict``), writes the audit trail in that same transaction,
and publishes one event after the commit. Talking to Meta and to Rasa goes through the
ports of ``handoff.ports``; the service imports no adapter.

``HandoffService`` is the composition: it builds the use-case services of
``handoff.services`` on one shared context and exposes each as an attribute
(``service.attentions.open(...)``, ``service.outbox.send_agent_message(...)``); only the
cross-cutting entry points (start, storage, campaigns, bus, queries, history) live here.
What it keeps goes through the persistence port (``handoff.records.Storage``), which the
storage adapter implements (``connectors.storage.records.SqlStorage``).
"""

from __future__ import annotations

from datetime import timedelta

from handoff.campaigns.model import Campaign, CampaignBook
from handoff.clock import Clock, utc_now
from handoff.events import EventBus, InMemoryEventBus
from handoff.history import History
from handoff.ports import ChannelGateway, ConversationResumer, NoResumer
from handoff.queries import Queries
from handoff.records import Storage
from handoff.services.agents import Agents
from handoff.services.attentions import Attentions
from handoff.services.forms import Forms
from handoff.services.inbound import Inbound
from handoff.services.labels import Labels
from handoff.services.outbound import Outbound
from handoff.services.outbox import Outbox
from handoff.services.presence import Presence
from handoff.services.receipts import Receipts
from handoff.services.shared import DEFAULT_PRESENCE_TIMEOUT, NoGateway, ServiceContext, sync_campaigns


class HandoffService:
    def __init__(
        self,
        storage: Storage,
        campaigns: CampaignBook,
        *,
        gateway: ChannelGateway | None = None,
        resumer: ConversationResumer | None = None,
        bus: EventBus | None = None,
        clock: Clock = utc_now,
        presence_timeout: timedelta = DEFAULT_PRESENCE_TIMEOUT,
    ) -> None:
        self.context = ServiceContext(
            storage=storage,
            book=campaigns,
            gateway=gateway or NoGateway(),
            resumer=resumer or NoResumer(),
            bus=bus or InMemoryEventBus(),
            clock=clock,
            presence_timeout=presence_timeout,
        )
        self.agents = Agents(self.context)
        self.inbound = Inbound(self.context)
        self.attentions = Attentions(self.context, self.agents)
        self.forms = Forms(self.context)
        self.presence = Presence(self.context)
        self.outbox = Outbox(self.context)
        self.receipts = Receipts(self.context)
        self.outbound = Outbound(self.context)
        self.labels = Labels(self.context)

    async def start(self) -> None:
        """Write the campaigns snapshot (idempotent; call once at server start)."""
        await sync_campaigns(self.context)

    @property
    def storage(self) -> Storage:
        return self.context.storage

    @property
    def campaigns(self) -> CampaignBook:
        return self.context.book

    def campaign(self, campaign_id: str) -> Campaign:
        return self.context.book.get(campaign_id)

    @property
    def bus(self) -> EventBus:
        """Where every service publishes its events after the commit (the desk subscribes)."""
        return self.context.bus

    @property
    def queries(self) -> Queries:
        """The desk's read models over the same database and campaigns."""
        return Queries(self.context.storage, self.context.book)

    @property
    def history(self) -> History:
        """Terminated attentions: search and detail."""
        return History(self.context.storage, self.context.book)


__all__ = ["HandoffService"]
