"""Generated history for part 5: terminated attentions with realistic conversations.

Each conversation is one terminated attention: a customer (new, or one who came back),
a campaign chosen as ``data/campaigns.yml`` routes it (Messenger -> Soporte, Instagram ->
Ventas), the bot's context before the handoff, a few to eighty messages between the
customer and an agent, and the form the agent filled in on *Terminar atención*. About 70 %
of the conversations are in Spanish and 30 % in English.

Words follow a Zipf-like law (``bench.history_words``), so a keyword's document frequency
depends on its rank: function words and the first content words are in most documents
("common"), content words ranked about 120 to 200 in a few percent ("medium"), and the
long tail of made-up words (product names, places, surnames: tens of thousands of them,
shared by both languages) in a handful each ("rare"). The search document of each
conversation is built by the product's own ``handoff.search.history_document`` from the
same values the product reads when an attention terminates.

Everything comes from one seeded ``random.Random``: the same seed gives the same history,
so SQLite and PostgreSQL receive identical rows (``bench.history_corpus_process`` runs it
a batch ahead of the loading).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.history_names import FIRST_NAMES, SURNAMES
from bench.history_words import Language, WordStream, ZipfWords, distinct, made_up_words
from bench.history_words_en import EN_CONTENT, EN_FUNCTION
from bench.history_words_es import ES_CONTENT, ES_FUNCTION
from handoff.search import history_document

START = datetime(2024, 1, 8, 9, 0, tzinfo=timezone.utc)
MESSENGER_PAGE = "104729384756102"
INSTAGRAM_ACCOUNT = "17841400123456789"
# Instagram conversations go to Ventas, Messenger ones to Soporte (data/campaigns.yml).
INSTAGRAM_SHARE = 0.35
SPANISH_SHARE = 0.7
RETURNING_SHARE = 0.3  # conversations of a customer who had one before
OUTBOUND_SHARE = 0.05  # attentions an agent started from history
LABELLED_SHARE = 0.08
ATTACHMENT_SHARE = 0.03
FUNCTION_WORD_SHARE = 0.45
TAIL_WORDS = 30_000


@dataclass
class Conversation:
    """One terminated attention and everything stored with it, as rows of ``connectors.storage.schema``."""

    attention: dict[str, Any]
    customer: dict[str, Any] | None  # None: a returning customer, already stored
    messages: list[dict[str, Any]]
    label_ids: list[int]
    customer_name: str
    campaign_name: str
    document: str  # what the product writes into history.document on terminate
    language: str


@dataclass(frozen=True)
class Staff:
    """Who the conversations are with: agent ids per campaign, label ids, campaign names."""

    agents: dict[str, list[tuple[int, str]]]  # campaign id -> [(agent id, display name)]
    labels: list[int]
    campaign_names: dict[str, str]


@dataclass
class _Customer:
    channel: str
    account_id: str
    customer_id: str
    name: str
    attention_ids: list[int] = field(default_factory=list)


class Corpus:
    """Conversations in end order: attention ids and end times grow together, as the
    product's history ids do."""

    def __init__(self, staff: Staff, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.staff = staff
        es_content, en_content = distinct(ES_CONTENT), distinct(EN_CONTENT)
        tail = made_up_words(self.rng, TAIL_WORDS, set(es_content) | set(en_content) | set(ES_FUNCTION) | set(EN_FUNCTION))
        self.tail = tail
        self.languages = {
            "es": Language("es", ZipfWords(ES_FUNCTION), ZipfWords(es_content + tail), es_content),
            "en": Language("en", ZipfWords(EN_FUNCTION), ZipfWords(en_content + tail), en_content),
        }
        # Words are drawn a few thousand at a time: one draw per word costs more than the rest
        # of the generation together.
        self._streams = {
            (code, kind): WordStream(getattr(language, kind), self.rng)
            for code, language in self.languages.items()
            for kind in ("function", "content")
        }
        self.customers: list[_Customer] = []
        self._by_customer_id: dict[str, _Customer] = {}
        self.next_attention_id = 1
        self.clock = START
        self.messages_made = 0

    # -- what the benchmark searches for ------------------------------------------------

    def keywords(
        self, rng: random.Random, per_class: int, exclude: Callable[[str], bool] = lambda word: False
    ) -> dict[str, list[str]]:
        """Keywords of each frequency class, as an agent would type them (with accents);
        ``exclude`` leaves words out (those that would take another path in the search)."""
        es, en = self.languages["es"], self.languages["en"]
        spanish = round(per_class * SPANISH_SHARE)

        def band(language: Language, low: int, high: int, count: int) -> list[str]:
            words = [word for word in language.real_content[low:high] if not exclude(word)]
            return [rng.choice(words) for _ in range(count)]

        common = band(es, 0, 30, spanish) + band(en, 0, 30, per_class - spanish)
        medium = band(es, 120, 200, spanish) + band(en, 120, 200, per_class - spanish)
        rare = [rng.choice(self.tail[5_000:]) for _ in range(per_class)]
        pairs = [f"{m} {c}" for m, c in zip(band(es, 120, 200, spanish), band(es, 0, 30, spanish), strict=False)]
        pairs += [
            f"{m} {c}"
            for m, c in zip(band(en, 120, 200, per_class - spanish), band(en, 0, 30, per_class - spanish), strict=False)
        ]
        return {"common": common, "medium": medium, "rare": rare, "two words": pairs}

    # -- conversations ------------------------------------------------------------------

    def until(self, messages: int, batch_messages: int = 10_000) -> list[Conversation]:
        """The next conversations, until about ``batch_messages`` messages or until
        ``messages`` were made in all."""
        batch: list[Conversation] = []
        made = 0
        while self.messages_made < messages and made < batch_messages:
            conversation = self._conversation()
            made += len(conversation.messages)
            self.messages_made += len(conversation.messages)
            batch.append(conversation)
        return batch

    def _customer(self, instagram: bool) -> tuple[_Customer, bool]:
        channel = "instagram" if instagram else "messenger"
        if self.customers and self.rng.random() < RETURNING_SHARE:
            for _ in range(5):
                known = self.rng.choice(self.customers)
                if known.channel == channel:
                    return known, False
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}"
        digits = 17 if instagram else 16
        customer_id = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
        fresh = _Customer(channel, INSTAGRAM_ACCOUNT if instagram else MESSENGER_PAGE, customer_id, name)
        self.customers.append(fresh)
        self._by_customer_id[customer_id] = fresh
        return fresh, True

    def _sentence(self, language: Language, words: int) -> str:
        function = int(words * FUNCTION_WORD_SHARE + self.rng.random())
        content = self._streams[language.code, "content"].take(words - function)
        tokens = [
            word
            for pair in itertools.zip_longest(content, self._streams[language.code, "function"].take(function))
            for word in pair
            if word
        ]
        text = " ".join(tokens)
        if self.rng.random() < 0.04:
            letters = "ABCDEFGHKLMNPRSTVX"
            text += f" {self.rng.choice(letters)}{self.rng.choice(letters)}-{self.rng.randrange(1000, 99999)}"
        return text[0].upper() + text[1:] + self.rng.choice([".", ".", "?", "!", ""])

    def _conversation(self) -> Conversation:
        rng = self.rng
        instagram = rng.random() < INSTAGRAM_SHARE
        campaign_id = "ventas" if instagram else "soporte"
        language = self.languages["es" if rng.random() < SPANISH_SHARE else "en"]
        who, new = self._customer(instagram)
        agent_id, agent_name = rng.choice(self.staff.agents[campaign_id])
        attention_id = self.next_attention_id
        self.next_attention_id += 1
        who.attention_ids.append(attention_id)

        created = self.clock = self.clock + timedelta(seconds=rng.randrange(60, 1800))
        outbound = rng.random() < OUTBOUND_SHARE
        context = (
            []
            if outbound
            else [
                {
                    "author": "customer" if n % 2 == 0 else "bot",
                    "text": self._sentence(language, rng.randrange(3, 12)),
                    "time": (created - timedelta(seconds=30 * (4 - n))).isoformat(),
                }
                for n in range(rng.randrange(2, 5))
            ]
        )
        opened = created + timedelta(seconds=rng.randrange(5, 600))
        now = opened
        first = who.name.split()[0]
        greeting = (
            f"Hola {first}, soy {agent_name} de {self.staff.campaign_names[campaign_id]}. ¿En qué te puedo ayudar?"
            if language.code == "es"
            else f"Hi {first}, this is {agent_name} from {self.staff.campaign_names[campaign_id]}. How can I help?"
        )
        count = min(80, 4 + int(rng.expovariate(1 / 16)))
        messages = []
        last_customer = None
        for n in range(count):
            now += timedelta(seconds=rng.randrange(5, 240))
            from_agent = n == 0 or (n % 2 == 0 and rng.random() < 0.8) or (n % 2 == 1 and rng.random() < 0.2)
            attachment = rng.random() < ATTACHMENT_SHARE
            text = None if attachment else greeting if n == 0 else self._sentence(language, rng.randrange(3, 16))
            if not from_agent:
                last_customer = now
            messages.append(_message(attention_id, from_agent, agent_id, text, now, rng))
        terminated = now + timedelta(seconds=rng.randrange(30, 900))
        self.clock = terminated
        form = self._form(campaign_id, who.name, language, terminated)
        attention = {
            "id": attention_id,
            "channel": who.channel,
            "account_id": who.account_id,
            "customer_id": who.customer_id,
            "campaign_id": campaign_id,
            "state": "terminated",
            "direction": "outbound" if outbound else "inbound",
            "agent_id": agent_id,
            "intent": None if outbound else "request_human",
            "form": form,
            "context": context,
            "created_at": created,
            "opened_at": opened,
            "assigned_at": opened,
            "terminated_at": terminated,
            "last_customer_message_at": last_customer,
            "last_message_id": None,
            "read_up_to_message_id": None,
            "updated_at": terminated,
        }
        customer = None
        if new:
            customer = {
                "channel": who.channel,
                "account_id": who.account_id,
                "customer_id": who.customer_id,
                "name": who.name,
                "picture_url": None,
                "created_at": created,
                "updated_at": created,
            }
        labels = [rng.choice(self.staff.labels)] if self.staff.labels and rng.random() < LABELLED_SHARE else []
        campaign_name = self.staff.campaign_names[campaign_id]
        document = history_document(
            customer_name=who.name,
            customer_id=who.customer_id,
            campaign_name=campaign_name,
            message_texts=[m["text"] for m in messages],
            context=context,
            form=form,
            ended_at=terminated,
        )
        return Conversation(attention, customer, messages, labels, who.name, campaign_name, document, language.code)

    def _form(self, campaign_id: str, name: str, language: Language, ended: datetime) -> dict[str, Any]:
        rng = self.rng
        if campaign_id == "soporte":
            form: dict[str, Any] = {
                "nombre": name,
                "motivo": self._sentence(language, rng.randrange(3, 10)),
                "resultado": rng.choice(["resuelto", "resuelto", "escalado", "sin_respuesta"]),
            }
            if rng.random() < 0.6:
                form["numero_pedido"] = f"{rng.choice('ABCDEFGH')}{rng.choice('KLMNPRST')}-{rng.randrange(1000, 99999)}"
            return form
        form = {
            "nombre": name,
            "productos": rng.sample(["ropa", "calzado", "accesorios", "otros"], rng.randrange(1, 3)),
            "origen": rng.choice(["anuncio", "historia", "recomendacion", "busqueda", "otro"]),
            "resultado": rng.choice(["venta", "cotizacion", "sin_interes"]),
        }
        if rng.random() < 0.5:
            form["presupuesto"] = rng.randrange(20, 2000)
        if rng.random() < 0.4:
            form["fecha_contacto"] = (ended + timedelta(days=rng.randrange(2, 30))).date().isoformat()
        return form

    def attentions_of(self, customer_id: str) -> list[int]:
        """The attentions of a customer so far (what a search for the customer id must find)."""
        found = self._by_customer_id.get(customer_id)
        return list(found.attention_ids) if found else []


def _message(
    attention_id: int, from_agent: bool, agent_id: int, text: str | None, at: datetime, rng: random.Random
) -> dict[str, Any]:
    """A message row as the service stores it: customer messages received, agent ones sent
    and read (the statuses Meta's webhooks bring later)."""
    payload = (
        {} if text is not None else {"attachment": {"type": "image", "url": f"https://cdn.example/{rng.getrandbits(48):x}.jpg"}}
    )
    return {
        "attention_id": attention_id,
        "direction": "out" if from_agent else "in",
        "author": "agent" if from_agent else "customer",
        "agent_id": agent_id if from_agent else None,
        "kind": "text" if text is not None else "attachment",
        "text": text,
        "payload": payload,
        "mid": f"m_{rng.getrandbits(64):016x}",
        "status": "read" if from_agent else "received",
        "messaging_type": "RESPONSE" if from_agent else None,
        "tag": None,
        "error_code": None,
        "error_subcode": None,
        "error_message": None,
        "created_at": at,
        "sent_at": at,
        "delivered_at": at if from_agent else None,
        "read_at": at if from_agent else None,
        "updated_at": at,
    }
