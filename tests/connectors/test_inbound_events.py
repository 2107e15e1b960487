"""Every inbound event type reaches Rasa in a form designers can write rules for, or is
acknowledged without a bot turn."""

import pytest

from tests.connectors.fixtures import envelope, item

ATTACHMENTS = [
    ("messenger/image", "image"),
    ("messenger/video", "video"),
    ("messenger/audio", "audio"),
    ("messenger/file", "file"),
    ("messenger/sticker", "sticker"),
    ("messenger/location", "location"),
    ("messenger/fallback_share", "share"),
    ("messenger/template", "template"),
    ("messenger/reel", "reel"),
    ("instagram/image", "image"),
    ("instagram/video", "video"),
    ("instagram/audio", "audio"),
    ("instagram/file", "file"),
    ("instagram/share", "share"),
    ("instagram/story_mention", "story_mention"),
    ("instagram/ig_reel", "reel"),
    ("instagram/unsupported", "unsupported"),
]


@pytest.mark.parametrize("fixture,attachment_type", ATTACHMENTS)
async def test_attachments_become_the_receive_attachment_intent(server, fixture, attachment_type):
    channel = fixture.split("/")[0]
    assert (await server.post(channel, envelope(channel, [item(fixture)]))).status == 200
    [turn] = await server.wait_turns(1)
    assert turn.parse_data["intent"]["name"] == "receive_attachment"
    assert turn.parse_data["entities"][0] == {"entity": "attachment_type", "value": attachment_type, "start": 0, "end": 0}
    assert turn.input_channel == channel
    assert "http" not in (turn.text or ""), "an attachment must never pose as a URL in the text"
    if attachment_type != "unsupported":
        assert turn.metadata["attachments"][0]["type"] == attachment_type


async def test_location_and_sticker_details_are_in_the_metadata(server):
    await server.post("messenger", envelope("messenger", [item("messenger/location"), item("messenger/sticker")]))
    location, sticker = await server.wait_turns(2)
    assert location.metadata["attachments"][0]["latitude"] == -12.0464
    assert sticker.metadata["attachments"][0]["sticker_id"] == 369239263222822


@pytest.mark.parametrize(
    "fixture,text",
    [
        ("messenger/text", "Hola, ¿a qué hora abren? 😀"),
        ("messenger/quick_reply", "/affirm"),
        ("messenger/postback", "/get_started"),
        ("instagram/text", "hello, are you open today?"),
        ("instagram/postback", "/request_human"),
        ("instagram/story_reply", "¡Qué lindo!"),
        ("messenger/reply_to", "esto"),
    ],
)
async def test_texts_quick_replies_and_postbacks_reach_the_bot(server, fixture, text):
    channel = fixture.split("/")[0]
    await server.post(channel, envelope(channel, [item(fixture)]))
    [turn] = await server.wait_turns(1)
    assert turn.text == text
    assert turn.parse_data is None  # NLU (or Rasa's /intent payloads) decides


async def test_story_reply_carries_the_story(server):
    await server.post("instagram", envelope("instagram", [item("instagram/story_reply")]))
    [turn] = await server.wait_turns(1)
    assert turn.metadata["reply_to_story"] == {"url": "https://lookaside.example/story", "id": "1790"}


async def test_referrals_become_the_referral_intent(server):
    await server.post("messenger", envelope("messenger", [item("messenger/referral"), item("messenger/postback_with_referral")]))
    referral, postback = await server.wait_turns(2)
    assert referral.parse_data["intent"]["name"] == "referral"
    assert referral.parse_data["entities"][0]["value"] == "promo-navidad"
    assert postback.text == "/get_started" and postback.metadata["referral"]["ref"] == "promo-navidad"


async def test_customers_cannot_type_hard_coded_intents(server):
    raw = item("messenger/text")
    raw["message"]["text"] = "/request_human"
    await server.post("messenger", envelope("messenger", [raw]))
    [turn] = await server.wait_turns(1)
    assert turn.text == "request_human"


async def test_chat_plugin_guests_are_addressed_by_user_ref(server):
    await server.post("messenger", envelope("messenger", [item("messenger/user_ref")]))
    [turn] = await server.wait_turns(1)
    assert turn.sender_id == "guest-1"


@pytest.mark.parametrize(
    "fixture",
    [
        "messenger/reaction",
        "messenger/unreaction",
        "messenger/read",
        "messenger/delivery",
        "messenger/echo_ours",
        "messenger/echo_page_inbox",
        "messenger/optin",
        "instagram/deleted",
        "instagram/reaction",
        "instagram/read",
        "instagram/echo_ours",
        "instagram/message_edit",
    ],
)
async def test_events_that_are_not_a_turn_are_acknowledged_without_one(server, fixture):
    channel = fixture.split("/")[0]
    response = await server.post(channel, envelope(channel, [item(fixture)]))
    assert response.status == 200
    await server.settle()
    assert server.turns == []


async def test_unknown_and_malformed_items_never_cause_a_500(server):
    body = envelope("messenger", [{"sender": {"id": "1"}, "something_new": {"x": 1}}, "not an object", {}])
    body["entry"].append({"id": "1", "changes": [{"field": "feed", "value": {}}]})
    body["entry"].append({"id": "1"})
    body["entry"].append("garbage")
    response = await server.post("messenger", body)
    assert response.status == 200
    await server.settle()
    assert server.turns == []
