"""Conversations as the action server receives them.

Built with Rasa's own event classes on a real ``DialogueStateTracker`` of our domain, then
serialised the way Rasa sends it to the action server
(``tracker.current_state(EventVerbosity.ALL)``) and read back with
``rasa_sdk.Tracker.from_dict``, so the actions see exactly what they see in production:
user events with the connectors' metadata, bot events with buttons, timestamps, slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))

PSID = "7001234567890123"
PAGE_ID = "100000000000001"
IGSID = "8009876543210987"
IG_ACCOUNT_ID = "17841400000000001"
START = datetime(2026, 11, 25, 15, 0, 0, tzinfo=timezone.utc).timestamp()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


class ConversationBuilder:
    """Appends events as Rasa would record them, each a few seconds after the last."""

    def __init__(
        self,
        sender_id: str = PSID,
        channel: str = "messenger",
        account_id: str = PAGE_ID,
        start: float = START,
        profile_name: str | None = None,
        profile_picture: str | None = None,
    ) -> None:
        self.sender_id = sender_id
        self.channel = channel
        self.account_id = account_id
        self.profile_name = profile_name
        self.profile_picture = profile_picture
        self.now = start
        self.events: list[Event] = []
        self._mids = 0

    def at(self, timestamp: float) -> ConversationBuilder:
        self.now = timestamp
        return self

    def _tick(self, seconds: float = 5.0) -> float:
        self.now += seconds
        return self.now

    def session_start(self) -> ConversationBuilder:
        t = self._tick()
        self.events += [ActionExecuted("action_session_start", timestamp=t), SessionStarted(timestamp=t)]
        return self

    def user(
        self,
        text: str,
        intent: str,
        *,
        entities: Sequence[dict[str, Any]] = (),
        slots: dict[str, Any] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        confidence: float = 0.93,
    ) -> ConversationBuilder:
        """A customer message through the connectors (their metadata), then the slots
        ``action_extract_slots`` fills from it."""
        t = self._tick()
        self._mids += 1
        mid = f"m_{self._mids:04d}"
        if metadata is None:
            metadata = {"channel": self.channel, "account_id": self.account_id, "mid": mid, "timestamp": int(t * 1000)}
            if self.profile_name:
                metadata["customer"] = {"id": self.sender_id, "name": self.profile_name, "picture_url": self.profile_picture}
            if attachments is not None:
                metadata["attachments"] = attachments
        intent_data = {"name": intent, "confidence": confidence}
        parse_data = {
            "text": text,
            "intent": intent_data,
            "entities": list(entities),
            "intent_ranking": [intent_data],
            "message_id": mid,
            "metadata": metadata,
        }
        self.events += [
            ActionExecuted("action_listen", timestamp=t - 1),
            UserUttered(
                text,
                intent=intent_data,
                entities=list(entities),
                parse_data=parse_data,
                timestamp=t,
                input_channel=self.channel,
                message_id=mid,
                metadata=metadata,
            ),
        ]
        if slots:
            self.events.append(ActionExecuted("action_extract_slots", timestamp=t))
            self.events += [SlotSet(name, value, timestamp=t) for name, value in slots.items()]
        return self

    def bot(self, utter_action: str, text: str, buttons: list[dict[str, str]] | None = None) -> ConversationBuilder:
        t = self._tick(1)
        data: dict[str, Any] = {
            "elements": None,
            "quick_replies": None,
            "buttons": buttons,
            "attachment": None,
            "image": None,
            "custom": None,
        }
        self.events += [
            ActionExecuted(utter_action, timestamp=t),
            BotUttered(text, data=data, metadata={"utter_action": utter_action}, timestamp=t),
        ]
        return self

    def action(self, name: str) -> ConversationBuilder:
        self.events.append(ActionExecuted(name, timestamp=self._tick(1)))
        return self

    def slot(self, name: str, value: Any) -> ConversationBuilder:
        self.events.append(SlotSet(name, value, timestamp=self.now))
        return self

    def loop(self, name: str | None) -> ConversationBuilder:
        self.events.append(ActiveLoop(name, timestamp=self.now))
        return self

    def pause(self) -> ConversationBuilder:
        self.events.append(ConversationPaused(timestamp=self.now))
        return self

    def resume(self) -> ConversationBuilder:
        self.events.append(ConversationResumed(timestamp=self._tick(60)))
        return self

    def external(self, intent: str) -> ConversationBuilder:
        event = UserUttered.create_external(intent, input_channel=self.channel)
        event.timestamp = self._tick(1)
        self.events += [ActionExecuted("action_listen", timestamp=self.now), event]
        return self

    # -- the usual stretches -------------------------------------------------------------

    def handoff_form(
        self, name: str | None = "María Pérez", reason: str = "mi pedido 45678 no ha llegado"
    ) -> ConversationBuilder:
        """handoff_form from its activation (after the customer's request) to its end."""
        self.action("handoff_form").loop("handoff_form")
        if name is not None:
            self.slot("requested_slot", "customer_name")
            self.bot("utter_ask_customer_name", "Te comunico con una persona de nuestro equipo. Antes, ¿cómo te llamas?")
            self.user(name, "nlu_fallback", confidence=0.6, slots={"language": "es"})
            self.action("handoff_form").slot("customer_name", name)
        self.slot("requested_slot", "handoff_reason")
        thanks = f"Gracias, {name}. " if name else ""
        self.bot("utter_ask_handoff_reason", f"{thanks}Cuéntame en un mensaje en qué te podemos ayudar.")
        self.user(
            reason,
            "ask_order_status",
            entities=[{"entity": "order_number", "value": "45678", "start": 10, "end": 15}],
            slots={"order_number": "45678"},
        )
        self.action("handoff_form").slot("handoff_reason", reason).loop(None).slot("requested_slot", None)
        return self

    def tracker(self, extra_slots: Sequence[str] = ()) -> Tracker:
        """The conversation as the action server gets it; ``extra_slots``: slots a designer
        added to the domain (text slots filled by a custom action)."""
        slots = list(DOMAIN.slots) + [TextSlot(name, mappings=[{"type": "custom"}]) for name in extra_slots]
        rasa_tracker = DialogueStateTracker.from_events(self.sender_id, self.events, slots=slots)
        state = rasa_tracker.current_state(EventVerbosity.ALL)
        return Tracker.from_dict(state)


OFFER_BUTTONS = [
    {"title": "Sí, con una persona", "payload": "/request_human"},
    {"title": "No", "payload": "/deny"},
]


def spanish_handoff_conversation(builder: ConversationBuilder | None = None) -> ConversationBuilder:
    """Yesterday's session, then today: greeting, an unclear message, the offer accepted with
    the button, an image, the form (name, reason with an order number)."""
    b = builder or ConversationBuilder()
    b.session_start()
    b.user("hola, mi pedido no llegó ayer", "ask_order_status", slots={"language": "es"})
    b.bot("utter_ask_order_number", "¿Me compartes el número de pedido?")
    b.at(START + 86_400)  # a day later: a new session
    b.session_start()
    b.user("hola", "greet", slots={"language": "es"})
    b.bot("utter_greet", "¡Hola! 👋 Soy el asistente virtual.")
    b.user(
        '/receive_attachment{"attachment_type": "image"}',
        "receive_attachment",
        entities=[{"entity": "attachment_type", "value": "image", "start": 0, "end": 0}],
        slots={"attachment_type": "image"},
        attachments=[{"type": "image", "url": "https://cdn.example/photo.jpg"}],
    )
    b.bot("utter_attachment_received", "¡Gracias! Recibí tu archivo.")
    b.user("xkcd qwrtz", "nlu_fallback", confidence=0.6)
    b.bot(
        "utter_offer_human",
        "Disculpa, no estoy seguro de poder ayudarte con eso. ¿Quieres que te comunique con una persona?",
        OFFER_BUTTONS,
    )
    b.user("/request_human", "request_human", confidence=1.0)
    b.handoff_form()
    return b
