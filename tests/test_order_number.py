"""The order number the bot uses ("revisando el pedido N") is the number that names the
order, not any number: bot.order_number, alone and inside the trained model."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.order_number import ORDER_NUMBER_ENTITY, OrderNumberExtractor, find_order_number

ROOT = Path(__file__).resolve().parents[1]

# What customers really write, and the order number in it (None: there is none).
PHRASES = [
    ("mi pedido 48213 no llegó, ya pasaron 10 días", "48213"),
    ("ya pasaron 10 días y mi pedido 48213 no llega", "48213"),
    ("talla 42", None),
    ("tienen zapatillas talla 42?", None),
    ("el pedido #48213", "48213"),
    ("pedido # 48213", "48213"),
    ("48213", "48213"),
    ("es el 48213", "48213"),
    ("aquí está: 48213", "48213"),
    ("te paso el número: 600123", "600123"),
    ("mi número de orden es 1122334455", "1122334455"),
    ("hice la compra 77210 hace 5 días y pagué $1500", "77210"),
    ("pagué 1500 pesos y no llega", None),
    ("mi teléfono: 55512345", None),
    ("12345 o 67890, no me acuerdo", None),  # two bare numbers: ambiguous, the bot asks
    ("my order 48213 didn't arrive, it's been 10 days", "48213"),
    ("it's been 10 days and order #48213 still hasn't shipped", "48213"),
    ("I wear size 42", None),
    ("the order number is 13579", "13579"),
    ("order no. 190045", "190045"),
    ("sure, 42424", "42424"),
    ("here it is: 246810", "246810"),
    ("I paid 2500 dollars", None),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_the_number_that_names_the_order(text: str, expected: str | None) -> None:
    found = find_order_number(text)
    assert (found.value if found else None) == expected
    if found is not None:
        assert text[found.start : found.end] == found.value  # a span rasa test can compare


def _entities(message: Message) -> list[dict[str, Any]]:
    return [entity for entity in message.get(ENTITIES, []) if entity["entity"] == ORDER_NUMBER_ENTITY]


def test_the_component_replaces_any_other_guess_with_one_entity() -> None:
    message = Message(data={TEXT: "mi pedido 48213 no llegó, ya pasaron 10 días"})
    # As DIET used to tag it: both numbers, and the last one filled the slot.
    message.set(
        ENTITIES,
        [
            {"entity": "order_number", "value": "48213", "start": 10, "end": 15},
            {"entity": "order_number", "value": "10", "start": 37, "end": 39},
            {"entity": "language", "value": "es", "start": 0, "end": 2},
        ],
    )
    OrderNumberExtractor().process([message])
    found = [(e["value"], e["start"], e["end"], e["extractor"]) for e in _entities(message)]
    assert found == [("48213", 10, 15, "OrderNumberExtractor")]
    assert any(entity["entity"] == "language" for entity in message.get(ENTITIES))  # other entities stay
    OrderNumberExtractor().process([message])  # idempotent
    assert len(_entities(message)) == 1


def test_payloads_keep_their_own_entities() -> None:
    message = Message(data={TEXT: '/inform_order_number{"order_number": "777"}'})
    message.set(ENTITIES, [{"entity": "order_number", "value": "777"}])
    OrderNumberExtractor().process([message])
    assert _entities(message) == [{"entity": "order_number", "value": "777"}]


def _latest_model() -> Path | None:
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda path: path.stat().st_mtime)
    return models[-1] if models else None


@pytest.fixture(scope="module")
def agent():
    model = _latest_model()
    if model is None:
        pytest.skip("no trained model in models/ (rasa train --out models)")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent

    return Agent.load(str(model))


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("mi pedido 48213 no llegó, ya pasaron 10 días", "ask_order_status", "48213"),
        ("my order 48213 didn't arrive, it's been 10 days", "ask_order_status", "48213"),
        ("el pedido #48213", "inform_order_number", "48213"),
        ("48213", "inform_order_number", "48213"),
        ("tienen zapatillas talla 42?", "ask_product", None),
        ("talla 42", "ask_product", None),
        ("do you have these sneakers in size 42?", "ask_product", None),
        ("me cobraron dos veces, quiero un reembolso", "request_refund", None),
    ],
)
def test_the_trained_model_finds_the_order_number_customers_name(agent, text: str, intent: str, expected: str | None) -> None:
    parsed = asyncio.run(agent.parse_message(text))
    assert parsed["intent"]["name"] == intent
    # The slot order_number is filled from these entities (from_entity): one, the right one.
    found = [entity["value"] for entity in parsed["entities"] if entity["entity"] == ORDER_NUMBER_ENTITY]
    assert found == ([expected] if expected else [])
