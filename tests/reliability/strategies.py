"""Hypothesis strategies for webhook bodies: Meta's shapes with any field replaced by any
JSON value, so the fuzzing reaches deep into the parser instead of stopping at the top."""

from __future__ import annotations

from hypothesis import strategies as st

# Packed by hand (fmt: skip below): one key a line would spend 45 lines on a vocabulary.
META_KEYS = [
    "object", "entry", "id", "time", "messaging", "standby", "changes", "sender", "recipient", "timestamp",
    "message", "mid", "text", "is_echo", "app_id", "metadata", "attachments", "type", "payload", "url", "title",
    "sticker_id", "coordinates", "lat", "long", "quick_reply", "reply_to", "story", "is_deleted",
    "is_unsupported", "postback", "referral", "ref", "source", "reaction", "emoji", "action", "read",
    "watermark", "delivery", "mids", "message_edit", "user_ref", "field", "value",
]  # fmt: skip

# JSON as json.loads gives it (the webhook refuses NaN and Infinity before parsing).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "1700000000000", "m_1", "image", "fallback", "location", "react", "/restart", "\u0000"]),
)
keys = st.one_of(st.sampled_from(META_KEYS), st.text(max_size=8))
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=12,
)


def either(shape: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the expected shape, sometimes any JSON value."""
    return st.one_of(shape, shape, shape, trees)


def obj(required: dict, optional: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {k: either(v) for k, v in required.items()}, optional={k: either(v) for k, v in optional.items()}
    )


ids = st.one_of(st.text(min_size=1, max_size=12), st.integers(min_value=0, max_value=10**17))
party = obj({}, {"id": ids, "user_ref": ids})
attachment = obj(
    {
        "type": st.sampled_from(
            [
                "image",
                "video",
                "audio",
                "file",
                "location",
                "fallback",
                "template",
                "ig_reel",
                "reel",
                "share",
                "story_mention",
                "sticker",
                "x",
            ]
        )
    },
    {
        "payload": obj(
            {},
            {
                "url": st.text(max_size=30),
                "title": st.text(max_size=10),
                "sticker_id": ids,
                "coordinates": obj(
                    {},
                    {
                        "lat": st.floats(allow_nan=False, allow_infinity=False),
                        "long": st.floats(allow_nan=False, allow_infinity=False),
                    },
                ),
            },
        ),
        "title": st.text(max_size=10),
        "url": st.text(max_size=30),
    },
)
message = obj(
    {"mid": ids},
    {
        "text": st.text(max_size=40),
        "is_echo": st.booleans(),
        "app_id": ids,
        "metadata": st.text(max_size=30),
        "attachments": st.lists(attachment, max_size=3),
        "quick_reply": obj({}, {"payload": st.text(max_size=20)}),
        "reply_to": obj({}, {"mid": ids, "story": obj({}, {"url": st.text(max_size=20), "id": ids})}),
        "is_deleted": st.booleans(),
        "is_unsupported": st.booleans(),
    },
)
postback = obj(
    {},
    {
        "mid": ids,
        "title": st.text(max_size=20),
        "payload": st.text(max_size=20),
        "referral": obj({}, {"ref": st.text(max_size=10), "source": st.text(max_size=10)}),
    },
)
reaction = obj(
    {},
    {
        "mid": ids,
        "action": st.sampled_from(["react", "unreact", ""]),
        "reaction": st.text(max_size=8),
        "emoji": st.text(max_size=2),
    },
)
read = obj({}, {"watermark": st.integers(), "mid": ids})
delivery = obj({}, {"mids": st.lists(ids, max_size=3), "watermark": st.integers()})
referral = obj({}, {"ref": st.text(max_size=10), "source": st.text(max_size=10), "type": st.text(max_size=10)})
edit = obj({}, {"mid": ids, "text": st.text(max_size=20)})
event_kinds = {
    "message": message,
    "postback": postback,
    "reaction": reaction,
    "read": read,
    "delivery": delivery,
    "referral": referral,
    "message_edit": edit,
    "optin": trees,
    "pass_thread_control": trees,
}


@st.composite
def messaging_items(draw) -> dict:
    item = draw(obj({"sender": party, "recipient": party}, {"timestamp": st.integers(min_value=0, max_value=2**62)}))
    for kind in draw(st.lists(st.sampled_from(sorted(event_kinds)), max_size=2, unique=True)):
        item[kind] = draw(either(event_kinds[kind]))
    return item


entries = obj(
    {"id": ids},
    {
        "time": st.integers(),
        "messaging": st.lists(either(messaging_items()), max_size=4),
        "standby": st.lists(either(messaging_items()), max_size=2),
        "changes": st.lists(obj({}, {"field": st.text(max_size=8), "value": trees}), max_size=2),
    },
)
meta_shaped = obj({"object": st.sampled_from(["page", "instagram"])}, {"entry": st.lists(either(entries), max_size=3)})
# Wrong types exactly where the parser iterates or indexes (entry, messaging, message, ...).
structural = st.fixed_dictionaries(
    {"object": st.sampled_from(["page", "instagram"])},
    optional={
        "entry": st.one_of(
            scalars,
            st.lists(
                st.one_of(
                    scalars,
                    st.dictionaries(
                        st.sampled_from(["id", "messaging", "standby", "changes"]),
                        st.one_of(
                            scalars,
                            st.lists(
                                st.one_of(
                                    scalars,
                                    st.dictionaries(
                                        st.sampled_from(["sender", "recipient", "timestamp", *event_kinds]), trees, max_size=4
                                    ),
                                ),
                                max_size=3,
                            ),
                        ),
                        max_size=4,
                    ),
                ),
                max_size=3,
            ),
        )
    },
)
bodies = st.one_of(meta_shaped, meta_shaped, structural)
