"""Issue 13, "the desk tells the truth": every error answers a stable code with its
parameters, the page's catalogue has a text for each code in both languages, and a
customer's cancel is told as such (409 on open, the live frame, the history trail)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from handoff.error_codes import ALL_CODES
from handoff.services import attentions as attention_moves
from tests.desk.support import account, cancel_as_the_bot, handoff, login, make_account, next_frame

I18N = Path(__file__).resolve().parents[2] / "connectors" / "desk" / "static" / "i18n.js"


def catalogue() -> dict[str, dict[str, str]]:
    """The page's TABLE, per language: {key: text}. Parsed from the JS source, whose
    entries are one per line (``key: "text",`` or ``"dotted.key": "text",``)."""
    source = I18N.read_text(encoding="utf-8")
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in source.splitlines():
        opened = re.match(r"^  (es|en): \{$", line)
        if opened:
            current = tables.setdefault(opened.group(1), {})
            continue
        if line.startswith("  },") or line == "};":
            current = None
            continue
        entry = re.match(r'^    (?:"([^"]+)"|(\w+)): ("(?:[^"\\]|\\.)*"),?$', line)
        if current is not None and entry:
            current[entry.group(1) or entry.group(2)] = json.loads(entry.group(3))
    return tables


def assert_coded(answer, status: int, code: str) -> dict:
    """An error answer in the contract's shape: English ``error``, the code, its params."""
    assert answer.status == status, answer.body
    body = answer.body
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == code, body
    assert isinstance(body["params"], dict)
    assert body["code"] in ALL_CODES
    return body


# -- the catalogue ------------------------------------------------------------------------


def test_every_error_code_has_a_spanish_and_an_english_text_and_none_is_stale():
    tables = catalogue()
    assert set(tables) == {"es", "en"}
    for language, table in tables.items():
        assert len(table) > 200, f"the {language} table did not parse"
        keys = {key.removeprefix("error.") for key in table if key.startswith("error.")}
        assert ALL_CODES - keys == set(), f"{language}: codes without a text"
        assert keys - ALL_CODES == set(), f"{language}: texts of codes nobody answers"
        for code in ALL_CODES:
            text = table[f"error.{code}"]
            # Raw ids and state names stay out of the words ("attention 12", "terminated").
            placeholders = set(re.findall(r"\{\w+\}", text))
            assert text.strip() and not {"{attention_id}", "{state}", "{agent_id}", "{key}"} & placeholders, (code, text)


def test_the_placeholders_of_an_error_text_are_the_same_in_both_languages():
    tables = catalogue()
    for code in ALL_CODES:
        es, en = (set(re.findall(r"\{(\w+)\}", tables[language][f"error.{code}"])) for language in ("es", "en"))
        assert es == en, code


# -- the API answers codes -------------------------------------------------------------------


async def test_opening_an_attention_the_customer_cancelled_says_so(server):
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    await cancel_as_the_bot(server, attention["id"])
    body = assert_coded(await ana.post(f"/attentions/{attention['id']}/open"), 409, "attention.cancelled_by_customer")
    assert body["params"]["attention_id"] == attention["id"]
    assert "no longer in the queue" in body["error"]  # the developers' text is kept


async def test_opening_an_attention_another_agent_took_or_a_supervisor_ended_says_which(server):
    ana, beto = await account(server, "ana"), await account(server, "beto")
    await make_account(server, "sara", role="supervisor")
    sara = await login(server, "sara")
    taken = await handoff(server, "6001")
    assert (await ana.post(f"/attentions/{taken['id']}/open")).status == 200
    assert_coded(await beto.post(f"/attentions/{taken['id']}/open"), 409, "attention.taken")
    ended = await handoff(server, "6002")
    assert (await sara.post(f"/attentions/{ended['id']}/terminate", {"values": {}})).status == 200
    assert_coded(await beto.post(f"/attentions/{ended['id']}/open"), 409, "attention.not_queued")


async def test_an_open_that_loses_the_race_to_the_cancel_says_the_customer_cancelled(server, monkeypatch):
    """The desk looked (queued), the customer cancelled, then the open's write came: the
    domain re-reads and names the winner instead of "it changed"."""
    ana = await account(server, "ana")
    attention = await handoff(server, "6001")
    service = server.runtime.service
    real_move = attention_moves.move

    async def cancel_first(context, current, *args, **kwargs):
        monkeypatch.setattr(attention_moves, "move", real_move)  # the cancel's own move goes through
        await service.attentions.terminate_by_bot(current.channel, current.account_id, current.customer_id, "customer_cancelled")
        return await real_move(context, current, *args, **kwargs)

    monkeypatch.setattr(attention_moves, "move", cancel_first)
    answer = await ana.post(f"/attentions/{attention['id']}/open")
    assert_coded(answer, 409, "attention.cancelled_by_customer")


async def test_every_desk_sees_the_cancel_live_with_its_reason(server):
    ana, beto = await account(server, "ana"), await account(server, "beto")
    attention = await handoff(server, "6001")
    sockets = [await ana.live(), await beto.live()]
    try:
        await cancel_as_the_bot(server, attention["id"])
        for socket in sockets:
            frame = await next_frame(socket)
            assert frame["type"] == "attention.terminated" and frame["attention_id"] == attention["id"]
            assert frame["reason"] == "customer_cancelled" and frame["actor"]["kind"] == "bot"
            assert frame["attention"]["state"] == "terminated"
    finally:
        for socket in sockets:
            await socket.close()
    queue = (await beto.get("/attentions", params={"channel": "messenger"})).body["attentions"]
    assert attention["id"] not in [summary["id"] for summary in queue]


async def test_the_history_trail_carries_the_customers_cancel(server):
    await make_account(server, "sara", role="supervisor")
    sara = await login(server, "sara")
    attention = await handoff(server, "6001")
    await cancel_as_the_bot(server, attention["id"])
    detail = await sara.get(f"/history/{attention['id']}")
    assert detail.status == 200, detail.body
    [ended] = [entry for entry in detail.body["item"]["trail"] if entry["action"] == "terminate"]
    assert ended["reason"] == "customer_cancelled" and ended["actor"]["kind"] == "bot"


async def test_errors_of_each_kind_answer_their_code(server):
    ana = await account(server, "ana")
    other = await account(server, "otra", campaigns=("ventas",))
    attention = await handoff(server, "6001")
    assert_coded(await ana.get("/attentions/999999"), 404, "attention.not_found")
    assert_coded(await other.get(f"/attentions/{attention['id']}"), 403, "attention.not_yours")
    assert_coded(await ana.get("/me", token="not-a-token"), 401, "auth.unauthorized")
    wrong = await ana.call("POST", "/login", {"username": "ana", "password": "nope-nope-nope"}, token=None)
    assert_coded(wrong, 401, "auth.wrong_credentials")
    assert_coded(await ana.get("/attentions", params={"channel": "fax"}), 400, "request.invalid")
    assert (await ana.post(f"/attentions/{attention['id']}/open")).status == 200
    too_long = await ana.post(f"/attentions/{attention['id']}/messages", {"text": "x" * 2001})
    body = assert_coded(too_long, 422, "message.too_long")
    assert body["params"] == {"limit": 2000, "length": 2001, "unit": "chars"}
    refused = await ana.post(f"/attentions/{attention['id']}/terminate", {"values": {}})
    body = assert_coded(refused, 422, "form.invalid")
    assert set(body["fields"]) == set(body["field_errors"]) and body["fields"]  # same fields, now also as codes
    for field_error in body["field_errors"].values():
        assert field_error["code"] in ALL_CODES and isinstance(field_error["params"], dict)
    assert {field_error["code"] for field_error in body["field_errors"].values()} == {"field.required"}


def test_every_field_error_the_forms_make_has_a_code():
    """FieldError codes become ``field.<code>`` on the wire: each must be in the list."""
    source = (Path(__file__).resolve().parents[2] / "handoff" / "campaigns" / "forms.py").read_text(encoding="utf-8")
    made: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("error", "FieldError"):
            position = 0 if node.func.id == "error" else 1
            argument = node.args[position] if len(node.args) > position else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                made.add(argument.value)
    assert {"required", "unknown_field", "too_short", "not_an_option"} <= made
    assert {f"field.{code}" for code in made} <= ALL_CODES
