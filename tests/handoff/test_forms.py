from datetime import date

from handoff.campaigns import FieldType, FormField, LocalizedText, Prefill, PrefillSource, prefill_form, validate_form


def field(id: str, type: FieldType, prefill_from_slot: str | None = None, **extra) -> FormField:
    """A field; ``prefill_from_slot`` as the campaigns file's shorthand of ``prefill: {slot: ...}``."""
    if prefill_from_slot is not None:
        extra["prefill"] = Prefill(PrefillSource.SLOT, prefill_from_slot)
    return FormField(id=id, type=type, label=LocalizedText(id), **extra)


FORM = (
    field("nombre", FieldType.TEXT, required=True, min_length=2, max_length=5),
    field("motivo", FieldType.PARAGRAPH, required=True),
    field("edad", FieldType.NUMBER, min=18, max=99),
    field("resultado", FieldType.SINGLE_CHOICE, required=True, options=("resuelto", "escalado")),
    field("productos", FieldType.MULTIPLE_CHOICE, options=("ropa", "calzado")),
    field("origen", FieldType.LIST, options=("anuncio", "otro")),
    field("fecha", FieldType.DATE),
)


def codes(values):
    return [(error.field, error.code) for error in validate_form(FORM, values)]


def test_a_valid_form_has_no_errors():
    values = {
        "nombre": "Ana",
        "motivo": "x",
        "edad": "40",
        "resultado": "resuelto",
        "productos": ["ropa"],
        "origen": "otro",
        "fecha": "2024-05-06",
    }
    assert validate_form(FORM, values) == []
    assert validate_form(FORM, {**values, "fecha": date(2024, 5, 6), "edad": 40.0}) == []


def test_missing_required_fields_are_named_one_by_one():
    assert codes({"nombre": "  ", "productos": []}) == [
        ("nombre", "required"),
        ("motivo", "required"),
        ("resultado", "required"),
    ]


def test_each_kind_of_invalid_value():
    assert codes(
        {
            "nombre": "A",
            "motivo": "ok",
            "edad": "viejo",
            "resultado": "quizás",
            "productos": "ropa",
            "origen": "tele",
            "fecha": "06/05/2024",
            "extra": 1,
        }
    ) == [
        ("nombre", "too_short"),
        ("edad", "not_a_number"),
        ("resultado", "not_an_option"),
        ("productos", "not_a_list"),
        ("origen", "not_an_option"),
        ("fecha", "invalid_date"),
        ("extra", "unknown_field"),
    ]
    assert codes(
        {"nombre": "Alejandra", "motivo": "ok", "resultado": "resuelto", "edad": 10, "productos": ["ropa", "gorras"]}
    ) == [
        ("nombre", "too_long"),
        ("edad", "below_min"),
        ("productos", "not_an_option"),
    ]
    assert codes({"nombre": "Ana", "motivo": "ok", "resultado": "resuelto", "edad": 120}) == [("edad", "above_max")]


def test_error_messages_name_the_field():
    [error] = validate_form(FORM[:1], {"nombre": "A"})
    assert str(error) == "field 'nombre': must have at least 2 characters (has 1)"


def test_drafts_skip_the_required_check_but_not_the_values():
    assert validate_form(FORM, {"edad": 5}, check_required=False)[0].code == "below_min"
    assert validate_form(FORM, {}, check_required=False) == []


def test_prefill_takes_valid_slot_values_and_defaults():
    form = (
        field("nombre", FieldType.TEXT, prefill_from_slot="customer_name"),
        field("pedido", FieldType.TEXT, prefill_from_slot="order_number"),
        field("edad", FieldType.NUMBER, prefill_from_slot="age", max=99),
        field("origen", FieldType.LIST, options=("anuncio", "otro"), default="otro", prefill_from_slot="origin"),
        field("productos", FieldType.MULTIPLE_CHOICE, options=("ropa",), prefill_from_slot="product"),
    )
    slots = {"customer_name": " Carla ", "order_number": 12345, "age": "140", "origin": "tele", "product": "ropa"}
    assert prefill_form(form, slots) == {"nombre": "Carla", "pedido": "12345", "origen": "otro", "productos": ["ropa"]}


def test_prefill_from_an_entity_or_a_pattern_in_what_the_customer_said():
    """Issue 13: a field declares where its value comes from, and it is what the customer
    actually said: the latest line that has the entity / matches the pattern."""
    from handoff.campaigns import Conversation

    form = (
        field("pedido", FieldType.TEXT, prefill=Prefill(PrefillSource.ENTITY, "order_number")),
        field("talla", FieldType.NUMBER, prefill=Prefill(PrefillSource.PATTERN, r"(?:talla|size)\s*(\d{2})\b"), min=30, max=50),
        field("nombre", FieldType.TEXT, prefill=Prefill(PrefillSource.SLOT, "customer_name")),
        field("guia", FieldType.TEXT, prefill=Prefill(PrefillSource.PATTERN, r"gu[ií]a\s+([A-Z]{2}\d+)"), max_length=5),
    )
    conversation = Conversation.from_context(
        [
            {
                "author": "customer",
                "text": "mi pedido 11111 no llegó",
                "intent": "ask_order_status",
                "entities": [{"entity": "order_number", "value": "11111"}, {"entity": "language", "value": "es"}],
            },
            {"author": "bot", "text": "revisando el pedido 11111, talla 99"},
            {
                "author": "customer",
                "text": "perdón, es el 48213; pedí talla 42 hace 10 días, guía AB123456789",
                "intent": "inform_order_number",
                "entities": [{"entity": "order_number", "value": "48213"}],
            },
            {"author": "customer", "text": "agente", "intent": "request_human"},
        ]
    )
    values = prefill_form(form, {"customer_name": "Ana"}, conversation)
    # The latest order number the customer gave; the size from their words (not the bot's);
    # a value the field refuses (the waybill is too long) is left for the agent.
    assert values == {"pedido": "48213", "talla": 42, "nombre": "Ana"}
    assert prefill_form(form, {}) == {}  # no conversation, no slot: nothing pre-filled
    assert conversation.intents == {"ask_order_status", "inform_order_number", "request_human"}
    assert conversation.entity_names == {"order_number", "language"}


def test_the_slot_shorthand_and_prefill_are_one_rule():
    shorthand = field("nombre", FieldType.TEXT, prefill_from_slot="customer_name")
    explicit = field("nombre", FieldType.TEXT, prefill=Prefill(PrefillSource.SLOT, "customer_name"))
    assert shorthand == explicit and shorthand.prefill == explicit.prefill
    assert explicit.prefill_from_slot == "customer_name"
    assert field("pedido", FieldType.TEXT, prefill=Prefill(PrefillSource.ENTITY, "order_number")).prefill_from_slot is None
