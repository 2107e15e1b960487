"""The composer's contract on the API (issue 13): channel limits enforced by the server with
a 422 naming the limit (never a cut), an attachment with its caption, and a logout that may
hand the agent's open attentions back to the queue."""

from __future__ import annotations

import json

from tests.desk.support import account, handoff

PICTURE = "https://cdn.example.test/factura.png"


async def opened(desk, customer_id: str, channel: str = "messenger") -> int:
    attention = await handoff(desk.server, customer_id, channel=channel)
    assert (await desk.post(f"/attentions/{attention['id']}/open")).status == 200
    return attention["id"]


async def test_texts_over_the_channel_limit_are_refused_with_the_limit_and_never_cut(server):
    ana = await account(server, "ana", campaigns=["soporte", "ventas"])
    messenger = await opened(ana, "6001")
    instagram = await opened(ana, "7001", channel="instagram")

    too_long = await ana.post(f"/attentions/{messenger}/messages", {"text": "x" * 2001})
    assert too_long.status == 422 and "2000" in json.dumps(too_long.body), too_long.body
    accented = "é" * 2000  # 2,000 characters (4,000 bytes): Messenger counts characters
    sent = await ana.post(f"/attentions/{messenger}/messages", {"text": accented})
    assert sent.status == 201 and sent.body["message"]["text"] == accented
    assert server.graph.sent_messages(recipient_id="6001")[-1].json["message"]["text"] == accented

    # Instagram counts UTF-8 bytes: 501 "é" are 1,002 bytes although only 501 characters.
    over = await ana.post(f"/attentions/{instagram}/messages", {"text": "é" * 501})
    assert over.status == 422 and "1000" in json.dumps(over.body) and "bytes" in json.dumps(over.body), over.body
    exact = "é" * 500
    fits = await ana.post(f"/attentions/{instagram}/messages", {"text": exact})
    assert fits.status == 201 and fits.body["message"]["text"] == exact
    assert [request.json["message"]["text"] for request in server.graph.sent_messages(recipient_id="7001")] == [exact]


async def test_each_attention_tells_the_composer_the_limit_the_server_enforces(server):
    """The page counts with the attention's text_limit, so its counter agrees with the 422."""
    ana = await account(server, "ana", campaigns=["soporte", "ventas"])
    limits = {}
    for customer_id, channel in (("6101", "messenger"), ("7101", "instagram")):
        attention_id = await opened(ana, customer_id, channel=channel)
        limit = (await ana.get(f"/attentions/{attention_id}")).body["attention"]["text_limit"]
        limits[channel] = limit
        one_over = ("é" if limit["unit"] == "chars" else "e") * (limit["max"] + 1)
        refused = await ana.post(f"/attentions/{attention_id}/messages", {"text": one_over})
        assert refused.status == 422 and refused.body["params"]["limit"] == limit["max"], refused.body
        assert refused.body["params"]["unit"] == limit["unit"]
    assert limits == {"messenger": {"max": 2000, "unit": "chars"}, "instagram": {"max": 1000, "unit": "bytes"}}


async def test_an_attachment_carries_its_caption_as_the_next_message(server):
    ana = await account(server, "ana")
    attention_id = await opened(ana, "6001")
    answer = await ana.post(
        f"/attentions/{attention_id}/messages",
        {"attachment": {"type": "image", "url": PICTURE}, "text": "  Aquí tiene su factura  "},
    )
    assert answer.status == 201, answer.body
    first, caption = answer.body["messages"]
    assert answer.body["message"] == first
    assert (first["kind"], caption["kind"], caption["text"]) == ("attachment", "text", "Aquí tiene su factura")
    assert first["id"] < caption["id"] and first["status"] == caption["status"] == "sent"
    sends = [request.json["message"] for request in server.graph.sent_messages(recipient_id="6001")]
    assert sends[0]["attachment"]["payload"]["url"] == PICTURE and sends[1] == {**sends[1], "text": "Aquí tiene su factura"}
    assert len(sends) == 2
    page = await ana.get(f"/attentions/{attention_id}")
    assert [message["kind"] for message in page.body["messages"]] == ["attachment", "text"]


async def test_a_caption_over_the_limit_refuses_the_attachment_too(server):
    ana = await account(server, "ana", campaigns=["ventas"])
    attention_id = await opened(ana, "7001", channel="instagram")
    answer = await ana.post(
        f"/attentions/{attention_id}/messages", {"attachment": {"type": "image", "url": PICTURE}, "text": "ñ" * 600}
    )  # 1,200 bytes
    assert answer.status == 422 and "1000" in json.dumps(answer.body), answer.body
    assert server.graph.sent_messages(recipient_id="7001") == []
    assert (await ana.get(f"/attentions/{attention_id}")).body["messages"] == []


async def test_a_refused_attachment_keeps_its_caption_unsent(server):
    ana = await account(server, "ana")
    attention_id = await opened(ana, "6001")
    server.graph.user_unavailable_next()
    answer = await ana.post(
        f"/attentions/{attention_id}/messages", {"attachment": {"type": "file", "url": PICTURE}, "text": "Su factura"}
    )
    assert answer.status == 201
    [failed] = answer.body["messages"]
    assert failed["kind"] == "attachment" and failed["status"] == "failed"
    assert server.graph.sent_messages(recipient_id="6001") == []
    # The one fault was spent on the attachment: had the caption gone after it, Meta would
    # have accepted it. Only the refused attachment ever reached the Send API...
    tried = [
        request.json["message"]
        for request in server.graph.requests
        if request.kind == "message" and request.recipient_id == "6001"
    ]
    assert len(tried) == 1 and "attachment" in tried[0], tried
    # ...and the caption is not stored either (not even pending, for the outbox sweep to send later).
    page = await ana.get(f"/attentions/{attention_id}")
    assert [(message["kind"], message["status"]) for message in page.body["messages"]] == [("attachment", "failed")]


async def test_logout_can_hand_the_open_attentions_back_to_the_queue(server):
    ana = await account(server, "ana")
    mine = [await opened(ana, "6001"), await opened(ana, "6002")]
    bruno = await account(server, "bruno")
    his = await opened(bruno, "6003")
    assert (await ana.post("/logout", {"return_to_queue": "yes"})).status == 400
    assert (await ana.post("/logout", {"return_to_queue": True})).status == 204
    for attention_id in mine:
        attention = await server.runtime.service.attentions.get(attention_id)
        assert (attention.state.value, attention.agent_id) == ("queued", None)
    assert (await server.runtime.service.attentions.get(his)).agent_id == bruno.id  # only her own
    assert (await ana.get("/me")).status == 401

    # A plain logout leaves them open (their orphan timer starts), as before.
    assert (await bruno.post("/logout")).status == 204
    assert (await server.runtime.service.attentions.get(his)).state.value == "open"
