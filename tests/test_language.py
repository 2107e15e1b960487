"""Tests of bot.language: the `language` entity Rasa's pipeline adds to each message."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language import ENGLISH, LANGUAGE_ENTITY, SPANISH, LanguageDetector

SPANISH_TEXTS = [
    "hola",
    "Buenos días, ¿dónde está mi pedido?",
    "quiero hablar con una persona",
    "a que hora abren el sabado",
    "gracias!!",
    "mi pedido 12345 no ha llegado",
    "sí, por favor",
    "no lo tengo",
    "¿Eres un robot?",
    "cuéntame un chiste",
    "pasame con un asesor xfa",
    "ola, q tal",
]

ENGLISH_TEXTS = [
    "hello",
    "Hi there, where is my order?",
    "I want to talk to a human",
    "what time do you open on Saturday",
    "thanks!!",
    "my order 98765 hasn't arrived",
    "yes please",
    "I don't have it",
    "are you a bot?",
    "see you later",
    "order number 4455",
    "can I speak to someone?",
]


@pytest.fixture
def detector(tmp_path) -> LanguageDetector:
    return LanguageDetector.create(
        LanguageDetector.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("language_detector"),
        ExecutionContext(GraphSchema({}), "test"),
    )


def _language_entities(message: Message) -> list[dict[str, Any]]:
    return [e for e in message.get(ENTITIES, []) if e["entity"] == LANGUAGE_ENTITY]


def _detect(detector: LanguageDetector, text: str) -> str | None:
    [message] = detector.process([Message(data={TEXT: text})])
    entities = _language_entities(message)
    assert len(entities) <= 1
    return entities[0]["value"] if entities else None


@pytest.mark.parametrize("text", SPANISH_TEXTS)
def test_spanish(detector: LanguageDetector, text: str) -> None:
    assert _detect(detector, text) == SPANISH


@pytest.mark.parametrize("text", ENGLISH_TEXTS)
def test_english(detector: LanguageDetector, text: str) -> None:
    assert _detect(detector, text) == ENGLISH


@pytest.mark.parametrize("text", ["12345", "ok", "no", "👍", "", "jajaja"])
def test_no_evidence_adds_no_entity(detector: LanguageDetector, text: str) -> None:
    # The slot then keeps the customer's language (initially Spanish).
    assert _detect(detector, text) is None


def test_ties_go_to_spanish(detector: LanguageDetector) -> None:
    assert _detect(detector, "hola, hello") == SPANISH


def test_mostly_english_with_a_spanish_word_is_english(
    detector: LanguageDetector,
) -> None:
    assert _detect(detector, "hola, where is my order please") == ENGLISH


def test_payloads_do_not_change_the_language(detector: LanguageDetector) -> None:
    assert _detect(detector, '/receive_attachment{"attachment_type": "image"}') is None
    assert _detect(detector, "/request_human") is None


def test_entity_points_at_the_first_telling_word(detector: LanguageDetector) -> None:
    text = "ok, where is my order?"
    [message] = detector.process([Message(data={TEXT: text})])
    [entity] = _language_entities(message)
    assert text[entity["start"] : entity["end"]] == "where"
    assert entity["extractor"] == "LanguageDetector"


def test_keeps_other_entities_and_is_idempotent(detector: LanguageDetector) -> None:
    order = {"entity": "order_number", "value": "12345", "start": 10, "end": 15}
    message = Message(data={TEXT: "mi pedido 12345", ENTITIES: [order]})
    detector.process([message])
    detector.process([message])
    assert message.get(ENTITIES)[0] == order
    assert [e["value"] for e in _language_entities(message)] == [SPANISH]
    # Rasa returns only "output properties" to the tracker: the entity must be one.
    assert ENTITIES in message.as_dict(only_output_properties=True)
