"""GET verification and POST signatures (meta-platform.md: Webhook verification, Signatures)."""

import pytest

from tests.connectors.harness import APP_SECRET, INSTAGRAM_SECRET, VERIFY_TOKEN


@pytest.mark.parametrize("channel", ["messenger", "instagram"])
async def test_subscribe_with_the_right_token_echoes_the_challenge_as_text(server, channel):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>1</script>"}
    async with server.session.get(server.webhook(channel), params=params) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert await response.text() == "<script>1</script>"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
async def test_anything_else_is_forbidden(server, params):
    async with server.session.get(server.webhook("messenger"), params=params) as response:
        assert response.status == 403
        assert "1" not in await response.text()


def text_body(mid: str = "m_1", text: str = "hola", sender: str = "psid-1") -> dict:
    return {
        "object": "page",
        "entry": [
            {
                "id": "100000000000001",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": "100000000000001"},
                        "timestamp": 1700000000000,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


async def test_signed_delivery_is_acknowledged_and_reaches_the_bot(server):
    response = await server.post("messenger", text_body())
    assert response.status == 200
    turns = await server.wait_turns(1)
    assert turns[0].text == "hola" and turns[0].sender_id == "psid-1" and turns[0].message_id == "m_1"


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "sha256=" + "0" * 64,  # forged
        "sha1=0123456789abcdef0123456789abcdef01234567",  # legacy header value only
        "sha256=nothex",
    ],
)
async def test_bad_signatures_are_403_and_never_reach_the_bot(server, signature):
    response = await server.post("messenger", text_body(), signature=signature)
    assert response.status == 403
    await server.settle()
    assert server.turns == []


async def test_signature_over_other_bytes_fails(server):
    import json

    from connectors.meta.channel import sign

    body = json.dumps(text_body()).encode()
    response = await server.post("messenger", body[:-1] + b" }", signature=sign(body, APP_SECRET))
    assert response.status == 403


async def test_instagram_uses_its_own_secret(server):
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": "1784",
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": "igsid"},
                        "recipient": {"id": "1784"},
                        "timestamp": 1,
                        "message": {"mid": "ig1", "text": "hi"},
                    }
                ],
            }
        ],
    }
    assert (await server.post("instagram", body, secret=APP_SECRET)).status == 403
    assert (await server.post("instagram", body, secret=INSTAGRAM_SECRET)).status == 200


async def test_body_that_is_not_json_is_400(server):
    response = await server.post("messenger", b"{not json")
    assert response.status == 400
