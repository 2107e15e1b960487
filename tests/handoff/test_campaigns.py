import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from handoff.campaigns import (
    CampaignConfigError,
    Conversation,
    CustomerLine,
    FieldType,
    Prefill,
    PrefillSource,
    load_campaigns,
    parse_duration,
)
from handoff.campaigns.__main__ import main
from handoff.model import Channel, Direction
from tests.handoff.support import SHIPPED_CAMPAIGNS_FILE as CAMPAIGNS_FILE

DOMAIN_FILE = CAMPAIGNS_FILE.parents[1] / "domain.yml"

GOOD = """
campaigns:
  - id: soporte
    name: Soporte
    channels: [messenger, instagram]
    handoff_message: {es: Hola, en: Hello}
    inbound_form:
      - {id: nombre, type: text, required: true}
  - id: ventas
    name: Ventas
    channels: [instagram]
    handoff_message: {es: Hola, en: Hello}
    inbound_form:
      - {id: edad, type: number, min: 1, max: 10}
routing:
  default: soporte
  rules:
    - campaign: ventas
      when: {channel: instagram}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(CampaignConfigError) as raised:
        load_campaigns(path)
    return raised.value.errors


def test_the_shipped_file_is_valid():
    book = load_campaigns(CAMPAIGNS_FILE)
    assert set(book.campaigns) == {"soporte", "ventas"}
    assert book.default_campaign_id == "soporte"
    soporte, ventas = book.get("soporte"), book.get("ventas")
    assert [(f.id, f.type, f.required, f.prefill_from_slot) for f in soporte.inbound_form] == [
        ("nombre", FieldType.TEXT, True, "customer_name"),
        ("motivo", FieldType.PARAGRAPH, True, "handoff_reason"),
        ("numero_pedido", FieldType.TEXT, False, "order_number"),
        ("resultado", FieldType.SINGLE_CHOICE, True, None),
    ]
    assert soporte.inbound_form[3].options == ("resuelto", "escalado", "sin_respuesta")  # the stored ids
    assert soporte.inbound_form[2].prefill == Prefill(PrefillSource.SLOT, "order_number")
    assert soporte.form_for(Direction.OUTBOUND) == soporte.inbound_form  # outbound defaults to inbound
    assert {f.type for f in ventas.inbound_form} >= {FieldType.MULTIPLE_CHOICE, FieldType.NUMBER, FieldType.DATE, FieldType.LIST}
    assert ventas.channels == (Channel.INSTAGRAM,)
    assert soporte.orphan_timeout == timedelta(minutes=10)
    assert soporte.handoff_message.in_language("en").startswith("I'm connecting")
    assert soporte.handoff_message.in_language("es").startswith("Te comunico")


def said(*intents: str) -> Conversation:
    """A conversation whose customer lines had these intents, in this order."""
    return Conversation(tuple(CustomerLine(text=f"line {n}", intent=intent) for n, intent in enumerate(intents)))


def test_routing_first_match_wins_with_a_default():
    book = load_campaigns(CAMPAIGNS_FILE, domain=DOMAIN_FILE)
    assert book.route("instagram", "ig_1", "request_human", {}).id == "ventas"  # nothing asked: Instagram's team
    assert book.route("messenger", "page_1", None, {}).id == "soporte"


def test_the_shipped_routing_looks_at_what_the_customer_asked():
    """Issue 13: an Instagram refund complaint went to Ventas (every Instagram customer
    did), and Messenger's order-status rule never fired, because routing only saw the
    intent that opened the hand-over (request_human, affirm)."""
    book = load_campaigns(CAMPAIGNS_FILE, domain=DOMAIN_FILE)
    # Instagram: a refund complaint, then "sí" to the bot's offer.
    refund = book.routing("instagram", "ig_1", "affirm", {}, said("request_refund", "affirm", "nlu_fallback"))
    assert (refund.campaign.id, refund.rule) == ("soporte", 1)
    # Instagram: a shopper, then the offer's button.
    shopper = book.routing("instagram", "ig_1", "request_human", {}, said("greet", "ask_product", "request_human"))
    assert (shopper.campaign.id, shopper.rule) == ("ventas", 3)
    # A shopper who complains about a refund goes to support: the refund rule comes first.
    assert book.route("instagram", "ig_1", "request_human", {}, said("ask_product", "request_refund")).id == "soporte"
    # Messenger: the order-status rule fires (rule 2), though "agente" opened the hand-over.
    order = book.routing(
        "messenger", "page_1", "request_human", {}, said("ask_order_status", "inform_order_number", "request_human")
    )
    assert (order.campaign.id, order.rule) == ("soporte", 2)
    # A Messenger shopper: Ventas serves only Instagram, so the default.
    assert book.routing("messenger", "page_1", "request_human", {}, said("ask_product")).rule is None


def test_routing_by_what_was_asked_entities_and_a_bot_slot(tmp_path):
    book = load_campaigns(
        write(
            tmp_path,
            GOOD.replace(
                "      when: {channel: instagram}",
                """      when: {asked: [buy, ask_price]}
    - campaign: ventas
      when: {entities: order_number, channel: instagram}
    - campaign: ventas
      when: {slots: {equipo: ventas}}""",
            ),
        )
    )
    line = CustomerLine(text="quiero el 12345", intent="nlu_fallback", entities=(("order_number", "12345"),))
    assert book.route("instagram", "a", "request_human", {}, said("greet", "ask_price", "affirm")).id == "ventas"
    assert book.route("instagram", "a", "ask_price", {}, said("greet")).id == "soporte"  # `asked` is not the opener
    assert book.route("instagram", "a", None, {}, Conversation((line,))).id == "ventas"
    assert book.route("instagram", "a", None, {}, said("greet")).id == "soporte"
    assert book.route("instagram", "a", None, {"equipo": "ventas"}).id == "ventas"  # a bot rule set the slot


def test_routing_by_intent_slot_and_account(tmp_path):
    book = load_campaigns(
        write(
            tmp_path,
            GOOD.replace(
                "      when: {channel: instagram}",
                """      when: {channel: instagram, account: ["17841"]}
    - campaign: ventas
      when: {intent: [buy, ask_price], slots: {vip: true}}""",
            ),
        )
    )
    assert book.route("instagram", "17841").id == "ventas"
    assert book.route("instagram", "other").id == "soporte"
    assert book.route("instagram", "other", "buy", {"vip": True}).id == "ventas"
    assert book.route("instagram", "other", "buy", {"vip": False}).id == "soporte"
    # A rule whose campaign does not serve the channel is skipped.
    assert book.route("messenger", "page", "buy", {"vip": True}).id == "soporte"


def test_min_greater_than_max_names_file_campaign_and_field(tmp_path):
    path = write(tmp_path, GOOD.replace("min: 1, max: 10", "min: 50, max: 10"))
    with pytest.raises(CampaignConfigError) as raised:
        load_campaigns(path)
    assert raised.value.errors == [f"{path}: campaign 'ventas', field 'edad': min (50) is greater than max (10)"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("required: true}", "requierd: true}"), "campaign 'soporte', field 'nombre': unknown key 'requierd'"),
        (("    name: Ventas\n", "    name: Ventas\n    colour: red\n"), "campaign 'ventas': unknown key 'colour'"),
        (("id: ventas", "id: soporte"), "campaign 'soporte': duplicate campaign id"),
        (("campaign: ventas", "campaign: marketing"), "routing rule #1: campaign 'marketing' does not exist"),
        (("default: soporte", "default: nadie"), "routing: 'default' names campaign 'nadie', which does not exist"),
        (("  default: soporte\n", ""), "routing: 'default' (the campaign when no rule matches) is required"),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: color, type: single_choice, options: []}"),
            "campaign 'ventas', field 'color': 'options' must be a non-empty list for a single_choice field",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: color, type: list}"),
            "campaign 'ventas', field 'color': 'options' must be a non-empty list for a list field",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: color, type: list, options: [a, b], default: c}"),
            "campaign 'ventas', field 'color': invalid default: 'c' is not one of the options ['a', 'b']",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: edad, type: number, max: 10, default: 11}"),
            "campaign 'ventas', field 'edad': invalid default: must be at most 10 (is 11)",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: edad, type: text, min: 1}"),
            "campaign 'ventas', field 'edad': 'min' applies only to number fields, not text",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: edad, type: text, min_length: 9, max_length: 3}"),
            "campaign 'ventas', field 'edad': min_length (9) is greater than max_length (3)",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: edad, type: slider}"),
            "campaign 'ventas', field 'edad': unknown type 'slider'",
        ),
        (
            (
                "      - {id: nombre, type: text, required: true}\n",
                "      - {id: nombre, type: text}\n      - {id: nombre, type: date}\n",
            ),
            "campaign 'soporte', field 'nombre': duplicate field id",
        ),
        (
            ("channels: [instagram]", "channels: [instagram, whatsapp]"),
            "campaign 'ventas': 'channels': unknown channel 'whatsapp'",
        ),
        (("channels: [instagram]", "channels: []"), "campaign 'ventas': 'channels' must list at least one channel"),
        (
            ("    name: Ventas\n", "    name: Ventas\n    orphan_timeout: soon\n"),
            "campaign 'ventas': 'orphan_timeout' must be a positive duration",
        ),
        (
            ("    name: Ventas\n", "    name: Ventas\n    human_agent_tag: sometimes\n"),
            "campaign 'ventas': 'human_agent_tag' must be true or false",
        ),
        (
            ("    name: Ventas\n", "    name: Ventas\n    accounts: {messenger: ['1']}\n"),
            "campaign 'ventas': 'accounts': channel 'messenger' is not in 'channels'",
        ),
        (
            ("{es: Hola, en: Hello}\n    inbound_form:\n      - {id: edad", "{es: Hola}\n    inbound_form:\n      - {id: edad"),
            "campaign 'ventas': 'handoff_message.en' must be a non-empty text",
        ),
        (("when: {channel: instagram}", "when: {}"), "routing rule #1: 'when' must give at least one condition"),
        (
            ("when: {channel: instagram}", "when: {channel: messenger}"),
            "routing rule #1: campaign 'ventas' does not serve channel 'messenger'",
        ),
        (("when: {channel: instagram}", "when: {canal: instagram}"), "routing rule #1: unknown key 'canal'"),
        (("routing:", "routes:"), "unknown key 'routes'"),
    ],
)
def test_each_mistake_is_reported_with_its_place(tmp_path, change, expected):
    old, new = change
    assert old in GOOD, old
    errors = errors_of(tmp_path, GOOD.replace(old, new, 1))
    path = tmp_path / "campaigns.yml"
    assert any(error.startswith(f"{path}: ") and expected in error for error in errors), errors


BOT = """
version: "3.1"
intents: [greet, buy, {ask_price: {use_entities: true}}]
entities: [order_number, {language: {influence_conversation: false}}]
slots:
  customer_name: {type: text, mappings: [{type: custom}]}
  vip: {type: bool, mappings: [{type: custom}]}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("required: true}", "prefill: {slot: costumer_name}}"),
            "campaign 'soporte', field 'nombre': 'prefill': 'costumer_name' is not a slot of ",
        ),
        (
            ("required: true}", "prefill_from_slot: nombre_cliente}"),
            "campaign 'soporte', field 'nombre': 'prefill_from_slot': 'nombre_cliente' is not a slot of ",
        ),
        (
            ("required: true}", "prefill: {entity: order_numbr}}"),
            "campaign 'soporte', field 'nombre': 'prefill': 'order_numbr' is not an entity of ",
        ),
        (
            ("required: true}", "prefill: {pattern: 'pedido (\\d+'}}"),
            "campaign 'soporte', field 'nombre': 'prefill': the pattern 'pedido (\\d+' is not a valid regular expression",
        ),
        (
            ("required: true}", "prefill: {pattern: 'talla \\d+'}}"),
            "field 'nombre': 'prefill': the pattern 'talla \\d+' must have exactly one group (...) around the value (has 0)",
        ),
        (
            ("required: true}", "prefill: {slot: customer_name, entity: order_number}}"),
            "campaign 'soporte', field 'nombre': 'prefill' must be one of {slot: NAME}, {entity: NAME} or {pattern: 'REGEX'}",
        ),
        (("required: true}", "prefill: {column: x}}"), "campaign 'soporte', field 'nombre': 'prefill' must be one of"),
        (
            ("required: true}", "prefill: {slot: customer_name}, prefill_from_slot: customer_name}"),
            "campaign 'soporte', field 'nombre': give either 'prefill' or 'prefill_from_slot', not both",
        ),
        (
            ("when: {channel: instagram}", "when: {asked: [buy, comprar]}"),
            "routing rule #1: 'asked': 'comprar' is not an intent of ",
        ),
        (("when: {channel: instagram}", "when: {intent: pedir}"), "routing rule #1: 'intent': 'pedir' is not an intent of "),
        (
            ("when: {channel: instagram}", "when: {entities: [talla]}"),
            "routing rule #1: 'entities': 'talla' is not an entity of ",
        ),
        (
            ("when: {channel: instagram}", "when: {slots: {vip: true, equipo: ventas}}"),
            "routing rule #1: 'slots': 'equipo' is not a slot of ",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: r, type: list, options: [{id: a, label: {es: A, fr: B}}]}"),
            "campaign 'ventas', field 'r', option 'a': 'label': unknown language 'fr'",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: r, type: list, options: [{id: a, etiqueta: A}]}"),
            "campaign 'ventas', field 'r', option #1: unknown key 'etiqueta'",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: r, type: list, options: [{label: A}]}"),
            "campaign 'ventas', field 'r', option #1: 'id': None must be a non-empty text",
        ),
        (
            ("{id: edad, type: number, min: 1, max: 10}", "{id: r, type: list, options: [a, {id: a, label: A}]}"),
            "campaign 'ventas', field 'r': 'options' lists ['a'] more than once",
        ),
    ],
)
def test_names_the_bot_does_not_have_are_refused_with_their_place(tmp_path, change, expected):
    old, new = change
    assert old in GOOD, old
    domain = tmp_path / "domain.yml"
    domain.write_text(BOT, encoding="utf-8")
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(CampaignConfigError) as raised:
        load_campaigns(path, domain=domain)
    assert any(error.startswith(f"{path}: ") and expected in error for error in raised.value.errors), raised.value.errors


def test_a_good_prefill_and_labelled_options_against_the_domain(tmp_path):
    domain = tmp_path / "domain.yml"
    domain.write_text(BOT, encoding="utf-8")
    book = load_campaigns(
        write(
            tmp_path,
            GOOD.replace(
                "{id: edad, type: number, min: 1, max: 10}",
                "{id: talla, type: text, prefill: {pattern: 'talla (\\d+)'}}\n"
                "      - {id: pedido, type: text, prefill: {entity: order_number}}\n"
                "      - {id: r, type: single_choice, options: [resuelto, {id: cotizacion, label: {es: Cotización, en: Quote}}]}",
            ).replace("when: {channel: instagram}", "when: {asked: [ask_price], slots: {vip: true}}"),
        ),
        domain=domain,
    )
    talla, pedido, resultado = book.get("ventas").inbound_form
    assert talla.prefill == Prefill(PrefillSource.PATTERN, "talla (\\d+)") and talla.prefill_from_slot is None
    assert pedido.prefill == Prefill(PrefillSource.ENTITY, "order_number")
    assert resultado.options == ("resuelto", "cotizacion")  # the stored values stay the ids
    assert [resultado.option_label(option, "es") for option in resultado.options] == ["resuelto", "Cotización"]
    assert resultado.option_label("cotizacion", "en") == "Quote"
    assert resultado.value_text("cotizacion", "es") == "Cotización"


def test_the_shipped_file_against_the_shipped_domain_and_its_labels():
    book = load_campaigns(CAMPAIGNS_FILE, domain=DOMAIN_FILE)
    resultado = book.get("ventas").inbound_form[-1]
    assert resultado.options == ("venta", "cotizacion", "sin_interes")
    assert [resultado.option_label(option, "es") for option in resultado.options] == ["Venta", "Cotización", "Sin interés"]
    assert [resultado.option_label(option, "en") for option in resultado.options] == ["Sale", "Quote", "Not interested"]
    for campaign in book.campaigns.values():
        for field in campaign.inbound_form:
            if field.type in (FieldType.SINGLE_CHOICE, FieldType.MULTIPLE_CHOICE, FieldType.LIST):
                assert set(field.option_labels) == set(field.options), (campaign.id, field.id)  # every option has labels


def test_a_missing_domain_is_reported(tmp_path):
    with pytest.raises(CampaignConfigError) as raised:
        load_campaigns(write(tmp_path, GOOD), domain=tmp_path / "nope.yml")
    assert "nope.yml: cannot read the bot's domain" in raised.value.errors[0]


def test_all_mistakes_come_at_once(tmp_path):
    errors = errors_of(
        tmp_path, GOOD.replace("min: 1, max: 10", "min: 50, max: 10").replace("required: true}", "required: yes please}")
    )
    assert len(errors) == 2


def test_duplicate_yaml_keys_and_syntax_errors(tmp_path):
    [error] = errors_of(tmp_path, GOOD.replace("    name: Ventas\n", "    name: Ventas\n    name: Otra\n"))
    assert "duplicate key 'name'" in error
    [error] = errors_of(tmp_path, "campaigns: [\n")
    assert "not valid YAML" in error
    [error] = errors_of(tmp_path, "- just a list\n")
    assert "must be a mapping" in error


def test_a_missing_file(tmp_path):
    with pytest.raises(CampaignConfigError) as raised:
        load_campaigns(tmp_path / "nope.yml")
    assert "nope.yml: cannot read" in raised.value.errors[0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (600, 600),
        ("600", 600),
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("soon", None),
        (True, None),
        ("", None),
    ],
)
def test_durations(text, seconds):
    parsed = parse_duration(text)
    assert (parsed.total_seconds() if parsed is not None else None) == seconds


def test_the_check_command(tmp_path, capsys):
    assert main(["check", str(CAMPAIGNS_FILE)]) == 0
    assert "OK (2 campaigns" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("min: 1, max: 10", "min: 50, max: 10"))
    assert main(["check", str(bad)]) == 1
    assert f"{bad}: campaign 'ventas', field 'edad': min (50) is greater than max (10)" in capsys.readouterr().err


def test_the_check_command_checks_the_names_against_the_domain(tmp_path, capsys):
    assert main(["check", str(CAMPAIGNS_FILE), "--domain", str(DOMAIN_FILE)]) == 0
    bad = write(tmp_path, GOOD.replace("required: true}", "prefill: {slot: order_numbr}}"))
    assert main(["check", str(bad), "--domain", str(DOMAIN_FILE)]) == 1
    expected = f"{bad}: campaign 'soporte', field 'nombre': 'prefill': 'order_numbr' is not a slot of {DOMAIN_FILE}"
    assert expected in capsys.readouterr().err


def test_the_check_command_as_a_module(tmp_path):
    bad = write(tmp_path, GOOD.replace("campaign: ventas", "campaign: marketing"))
    done = subprocess.run(
        [sys.executable, "-m", "handoff.campaigns", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=CAMPAIGNS_FILE.parents[1],
        env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "campaign 'marketing' does not exist" in done.stderr


async def test_the_server_refuses_to_start_with_a_name_the_bot_does_not_have(tmp_path, monkeypatch):
    """At start (handoff_runtime), the shipped domain is the reference: a typo in a prefill
    stops the start with the file, the campaign and the field named."""
    from types import SimpleNamespace

    from connectors.runtime import handoff_runtime

    bad = tmp_path / "campaigns.yml"
    shipped = CAMPAIGNS_FILE.read_text(encoding="utf-8")
    bad.write_text(shipped.replace("prefill: {slot: order_number}", "prefill: {slot: order_numbr}"), encoding="utf-8")
    monkeypatch.setenv("HANDOFF_CAMPAIGNS", str(bad))
    monkeypatch.setenv("HANDOFF_DOMAIN", str(DOMAIN_FILE))
    with pytest.raises(CampaignConfigError) as raised:
        await handoff_runtime(SimpleNamespace())
    where = "campaign 'soporte', field 'numero_pedido'"
    assert raised.value.errors == [f"{bad}: {where}: 'prefill': 'order_numbr' is not a slot of {DOMAIN_FILE}"]
