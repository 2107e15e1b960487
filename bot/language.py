"""Tell Spanish from English in each customer message, as the NLU entity ``language``.

Why an entity: Rasa fills slots from entities without any custom action, so the
``language`` slot (``from_entity`` mapping in ``domain.yml``) follows the customer, and
every response picks its English variation through a ``condition`` on that slot.

Why a word-list heuristic: the bot speaks only two languages, chat messages are short,
and a list of frequent words is predictable, needs no model or extra dependency and
costs microseconds. Spanish is the product's language, so the detector answers English
only when the message clearly is English (more English words than Spanish ones).

A message with no evidence at all (an order number, "ok", an emoji) gets no entity,
so the slot keeps the customer's language (initially ``es``): an English customer who
answers "98765" to "What's your order number?" keeps getting English.

Rasa needs a span for every entity (``rasa test`` compares them), so the entity points
at the first word that gave the language away, e.g. ``where`` in "where is my order".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.rule_extractor import Found, RuleEntityExtractor

__all__ = [
    "ENGLISH",
    "LANGUAGE_ENTITY",
    "SPANISH",
    "Detection",
    "LanguageDetector",
    "detect_language",
]

SPANISH = "es"
ENGLISH = "en"
LANGUAGE_ENTITY = "language"

# Runs of letters: digits (order numbers), emoji and punctuation are no evidence.
_WORD = re.compile(r"[^\W\d_]+")
# Letters English words practically never carry.
_SPANISH_LETTERS: frozenset[str] = frozenset("áéíóúñü")

# Frequent chat words, also typed without accents and with the usual abbreviations.
_SPANISH_CANDIDATES = frozenset(
    [
        "de",
        "la",
        "el",
        "los",
        "las",
        "lo",
        "le",
        "les",
        "del",
        "al",
        "un",
        "una",
        "unos",
        "unas",
        "y",
        "o",
        "que",
        "q",
        "qué",
        "cual",
        "cuál",
        "es",
        "son",
        "soy",
        "eres",
        "está",
        "esta",
        "estan",
        "están",
        "estoy",
        "este",
        "esto",
        "eso",
        "esa",
        "ese",
        "estos",
        "hay",
        "mi",
        "mis",
        "tu",
        "tus",
        "su",
        "sus",
        "yo",
        "usted",
        "ustedes",
        "nos",
        "nosotros",
        "te",
        "ti",
        "conmigo",
        "contigo",
        "en",
        "con",
        "por",
        "para",
        "sin",
        "sobre",
        "desde",
        "hasta",
        "entre",
        "pero",
        "porque",
        "xq",
        "pq",
        "tambien",
        "también",
        "muy",
        "mas",
        "más",
        "ya",
        "aun",
        "aún",
        "todavia",
        "todavía",
        "donde",
        "dónde",
        "cuando",
        "cuándo",
        "como",
        "cómo",
        "cuanto",
        "cuánto",
        "quien",
        "quién",
        "hola",
        "ola",
        "holi",
        "buenas",
        "buenos",
        "buen",
        "dias",
        "días",
        "tardes",
        "noches",
        "gracias",
        "grasias",
        "muchas",
        "mil",
        "adios",
        "adiós",
        "chao",
        "chau",
        "luego",
        "nos",
        "vemos",
        "saludos",
        "si",
        "sí",
        "claro",
        "vale",
        "bueno",
        "perfecto",
        "listo",
        "correcto",
        "exacto",
        "nada",
        "tampoco",
        "nunca",
        "quiero",
        "quisiera",
        "necesito",
        "puedo",
        "puedes",
        "podria",
        "podría",
        "pueden",
        "hablar",
        "comunicar",
        "persona",
        "personas",
        "alguien",
        "humano",
        "agente",
        "asesor",
        "asesora",
        "ejecutivo",
        "operador",
        "atención",
        "atencion",
        "ayuda",
        "ayudar",
        "ayudame",
        "ayúdame",
        "por",
        "favor",
        "porfa",
        "porfis",
        "xfa",
        "pedido",
        "pedidos",
        "orden",
        "compra",
        "compré",
        "envio",
        "envío",
        "paquete",
        "numero",
        "número",
        "llega",
        "llegó",
        "llego",
        "llegado",
        "sigue",
        "viene",
        "estado",
        "seguimiento",
        "rastrear",
        "dime",
        "horario",
        "horarios",
        "hora",
        "horas",
        "abren",
        "cierran",
        "abierto",
        "abiertos",
        "atienden",
        "hoy",
        "mañana",
        "lunes",
        "martes",
        "miercoles",
        "miércoles",
        "jueves",
        "viernes",
        "sabado",
        "sábado",
        "domingo",
        "semana",
        "fin",
        "tienda",
        "oficina",
        "sucursal",
        "saber",
    ]
)
_ENGLISH_CANDIDATES = frozenset(
    [
        "the",
        "an",
        "is",
        "are",
        "am",
        "was",
        "were",
        "be",
        "been",
        "being",
        "i",
        "im",
        "you",
        "u",
        "your",
        "yours",
        "ur",
        "my",
        "mine",
        "we",
        "our",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "whats",
        "where",
        "wheres",
        "when",
        "who",
        "why",
        "which",
        "how",
        "do",
        "does",
        "did",
        "don",
        "doesn",
        "didn",
        "dont",
        "can",
        "cant",
        "could",
        "would",
        "will",
        "wont",
        "should",
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "thx",
        "ty",
        "hi",
        "hello",
        "good",
        "morning",
        "afternoon",
        "evening",
        "night",
        "bye",
        "goodbye",
        "see",
        "later",
        "yes",
        "yeah",
        "yep",
        "yup",
        "nope",
        "sure",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "and",
        "or",
        "not",
        "from",
        "about",
        "just",
        "still",
        "yet",
        "already",
        "want",
        "wanna",
        "need",
        "talk",
        "speak",
        "human",
        "someone",
        "somebody",
        "agent",
        "representative",
        "rep",
        "people",
        "staff",
        "support",
        "help",
        "order",
        "orders",
        "package",
        "parcel",
        "delivery",
        "shipping",
        "shipment",
        "status",
        "track",
        "tracking",
        "arrived",
        "arrive",
        "hours",
        "open",
        "opening",
        "close",
        "closing",
        "closed",
        "today",
        "tomorrow",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "week",
        "weekend",
        "store",
        "shop",
        "time",
        "number",
        "great",
        "awesome",
        "cool",
        "right",
        "wrong",
        "have",
        "has",
        "get",
        "got",
        "know",
        "tell",
    ]
)
# Words both languages use ("me", "no", "a", "ok"...) prove nothing and are left out.
# Dropping any overlap here keeps it so when someone adds a word to both lists.
_SPANISH_WORDS: frozenset[str] = _SPANISH_CANDIDATES - _ENGLISH_CANDIDATES
_ENGLISH_WORDS: frozenset[str] = _ENGLISH_CANDIDATES - _SPANISH_CANDIDATES


@dataclass(frozen=True)
class Detection:
    """A detected language and the span of the first word that gave it away."""

    language: str
    start: int
    end: int


def detect_language(text: str) -> Detection | None:
    """Detects Spanish or English in ``text``; ``None`` when there is no evidence.

    Ties go to Spanish: English must be the clear majority of the known words.
    """
    spanish: list[re.Match] = []
    english: list[re.Match] = []
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if word in _SPANISH_WORDS or not _SPANISH_LETTERS.isdisjoint(word):
            spanish.append(match)
        elif word in _ENGLISH_WORDS:
            english.append(match)

    if not spanish and not english:
        return None
    if len(english) > len(spanish):
        language, evidence = ENGLISH, english[0]
    else:
        language, evidence = SPANISH, spanish[0]
    return Detection(language, evidence.start(), evidence.end())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageDetector(RuleEntityExtractor):
    """Adds the entity ``language`` (``es`` / ``en``) to each parsed message."""

    entity = LANGUAGE_ENTITY

    def find(self, text: str) -> Found | None:
        found = detect_language(text)
        return None if found is None else (found.language, found.start, found.end)
