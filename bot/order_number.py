"""Find the order number in a customer message, as the NLU entity ``order_number``.

Why not the statistical model: DIET tags *any* number near the word "pedido" as an order
number. "mi pedido 48213 no llegó, ya pasaron 10 días" got two ``order_number`` entities
and Rasa kept the last one for the slot, so the bot answered "revisando el pedido 10";
"talla 42" was tagged too. An order number is not a guess: it is the number the customer
*names* as the order, so a few explicit rules find it, predictably and in microseconds:

1. a number of 4 to 10 digits right after a word that names the order ("pedido",
   "orden", "compra", "order", "purchase", "número de pedido", "order no.", "#"), with
   at most a few small words in between ("mi número de orden es 1122334455");
2. otherwise a bare number: the message is (nearly) only that number, as when the
   customer answers "¿Me compartes el número de pedido?" with "48213" or "es el 48213";
3. never a quantity: days, sizes, prices, phone numbers, years ("10 días", "talla 42",
   "$1500", "teléfono 55512345").

At most one entity per message: the first named number, else the bare one. Two bare
numbers are ambiguous, so none is taken and the bot asks. DIET does not extract entities
any more (config.yml), so this is the one rule for order numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.rule_extractor import Found, RuleEntityExtractor
from handoff.search import fold

__all__ = ["ORDER_NUMBER_ENTITY", "OrderNumber", "OrderNumberExtractor", "find_order_number"]

ORDER_NUMBER_ENTITY = "order_number"
MIN_DIGITS, MAX_DIGITS = 4, 10  # as utter_ask_order_number tells the customer
# A bare answer may carry this many other words ("aquí está: 48213", "here it is: 48213").
BARE_ANSWER_MOST_WORDS = 4
# Words between the naming word and the number: "pedido es", "número de orden es".
NAMED_MOST_FILLERS = 3

# Words (without accents, lower case) that name an order.
_ORDER_WORDS: frozenset[str] = frozenset(
    [
        "pedido",
        "pedidos",
        "orden",
        "ordenes",
        "compra",
        "compras",
        "order",
        "orders",
        "purchase",
        "numero",
        "number",
        "nro",
        "no",
        "nº",
        "n°",
        "num",
        "#",
    ]
)
# Small words allowed between the naming word and the number.
_FILLERS: frozenset[str] = frozenset(
    [
        "de",
        "del",
        "la",
        "el",
        "mi",
        "mis",
        "su",
        "es",
        "era",
        "seria",
        "sera",
        ":",
        "is",
        "was",
        "my",
        "the",
        "of",
        "its",
        "it",
        "s",
        "a",
        "numero",
        "number",
        "no",
        "no.",
        "nro",
        "nº",
        "n°",
        "num",
        "#",
        "pedido",
        "orden",
        "compra",
        "order",
        "purchase",
    ]
)
# A number right after one of these is not an order number.
_BEFORE_QUANTITY: frozenset[str] = frozenset(
    [
        "talla",
        "tallas",
        "size",
        "sizes",
        "numero_de_talla",
        "calzado",
        "shoe",
        "$",
        "us$",
        "usd",
        "s/",
        "€",
        "precio",
        "price",
        "pague",
        "pagué",
        "paid",
        "pay",
        "cuesta",
        "cuestan",
        "costs",
        "cost",
        "costo",
        "total",
        "telefono",
        "phone",
        "celular",
        "cel",
        "movil",
        "mobile",
        "whatsapp",
        "wsp",
        "tel",
        "dni",
        "cedula",
        "rut",
        "cp",
        "zip",
        "postal",
        "codigo",
        "code",
        "modelo",
        "model",
        "ref",
        "sku",
        "año",
        "ano",
        "year",
        "desde",
        "since",
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "setiembre",
        "octubre",
        "noviembre",
        "diciembre",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)
# A number right before one of these is a quantity.
_AFTER_QUANTITY: frozenset[str] = frozenset(
    [
        "dia",
        "dias",
        "day",
        "days",
        "hora",
        "horas",
        "hour",
        "hours",
        "hr",
        "hrs",
        "semana",
        "semanas",
        "week",
        "weeks",
        "mes",
        "meses",
        "month",
        "months",
        "ano",
        "anos",
        "year",
        "years",
        "minuto",
        "minutos",
        "minutes",
        "min",
        "mins",
        "pesos",
        "peso",
        "dolares",
        "dolar",
        "dollars",
        "dollar",
        "usd",
        "euros",
        "euro",
        "eur",
        "soles",
        "sol",
        "mxn",
        "cop",
        "clp",
        "ars",
        "brl",
        "$",
        "€",
        "cm",
        "mm",
        "m",
        "kg",
        "g",
        "gr",
        "grs",
        "km",
        "ml",
        "lt",
        "l",
        "unidades",
        "unidad",
        "units",
        "unit",
        "pcs",
        "piezas",
        "pares",
        "pairs",
        "veces",
        "times",
    ]
)

# Words, numbers (with an optional leading "#" or "$") and the few signs that matter.
_TOKEN = re.compile(r"[#$€]?\d+(?:[.,]\d+)*|[^\W\d_]+\.?|[#$€:]|s/", re.UNICODE)
_NUMBER = re.compile(r"^([#$€]?)(\d+)$")


@dataclass(frozen=True)
class OrderNumber:
    """The order number found and its span in the text (the digits, without a "#")."""

    value: str
    start: int
    end: int


@dataclass(frozen=True)
class _Token:
    text: str  # lower case, without accents
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    return [_Token(fold(match.group()), match.start(), match.end()) for match in _TOKEN.finditer(text)]


def _candidate(token: _Token) -> OrderNumber | None:
    """The token as an order number of the right length, or None (a price with "$" is not)."""
    match = _NUMBER.match(token.text)
    if match is None or match.group(1) in ("$", "€"):
        return None
    digits = match.group(2)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    start = token.start + len(match.group(1))
    return OrderNumber(digits, start, start + len(digits))


def _is_quantity(tokens: list[_Token], index: int) -> bool:
    words_before = [token.text for token in tokens[:index] if token.text not in (":", "#")]
    before = words_before[-1] if words_before else ""
    after = tokens[index + 1].text if index + 1 < len(tokens) else ""
    return before in _BEFORE_QUANTITY or after.rstrip(".") in _AFTER_QUANTITY


def _is_named(tokens: list[_Token], index: int) -> bool:
    """A word that names the order comes before the number, with only fillers in between."""
    if tokens[index].text.startswith("#"):
        return True
    for back in range(index - 1, max(-1, index - 2 - NAMED_MOST_FILLERS), -1):
        word = tokens[back].text.rstrip(".")
        if word in _ORDER_WORDS or tokens[back].text in _ORDER_WORDS:
            return True
        if tokens[back].text not in _FILLERS and word not in _FILLERS:
            return False
    return False


def find_order_number(text: str) -> OrderNumber | None:
    """The number that names the order in ``text``, or None (see the module's rules)."""
    tokens = _tokens(text)
    candidates = []
    for index, token in enumerate(tokens):
        found = _candidate(token)
        if found is not None and not _is_quantity(tokens, index):
            if _is_named(tokens, index):
                return found
            candidates.append(found)
    other_words = [token for token in tokens if not _NUMBER.match(token.text) and token.text not in (":", "#")]
    if len(candidates) == 1 and len(other_words) <= BARE_ANSWER_MOST_WORDS:
        return candidates[0]
    return None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class OrderNumberExtractor(RuleEntityExtractor):
    """Adds at most one ``order_number`` entity to each parsed customer text."""

    entity = ORDER_NUMBER_ENTITY

    def find(self, text: str) -> Found | None:
        found = find_order_number(text)
        return None if found is None else (found.value, found.start, found.end)
