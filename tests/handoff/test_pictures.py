from datetime import datetime, timedelta, timezone

from handoff.model import Channel, Customer
from handoff.pictures import UNSIGNED_PICTURE_LIFETIME, picture_expiry

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_a_meta_link_says_when_it_ends():
    ends = NOW + timedelta(days=2)
    url = f"https://scontent.xx.fbcdn.net/v/t1.30497-1/pic.jpg?stp=dst-jpg&_nc_sid=7206a8&oh=00_AYB&oe={int(ends.timestamp()):X}"
    assert picture_expiry(url, NOW) == ends


def test_a_link_without_its_end_is_trusted_for_a_few_days():
    assert picture_expiry("https://lookaside.example/pic.jpg", NOW) == NOW + UNSIGNED_PICTURE_LIFETIME
    assert picture_expiry("https://lookaside.example/pic.jpg?oe=not-hex", NOW) == NOW + UNSIGNED_PICTURE_LIFETIME


def test_no_usable_link_no_picture():
    for url in (None, "", "javascript:alert(1)", "data:image/png;base64,AAAA", "https://", "https://x.example/" + "a" * 2000):
        assert picture_expiry(url, NOW) is None, url


def test_a_customer_shows_the_picture_only_while_it_loads():
    customer = Customer(Channel.MESSENGER, "page", "psid", "Ana", "https://x.example/a.jpg", NOW + timedelta(hours=1))
    assert customer.picture_at(NOW) == "https://x.example/a.jpg"
    assert customer.picture_at(NOW + timedelta(hours=1)) is None
    assert Customer(Channel.MESSENGER, "page", "psid", "Ana", "https://x.example/a.jpg").picture_at(NOW) is None
