"""Session cookies: signed, expiring, and nothing else reads as one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from baton.ui.session import Sessions

SESSIONS = Sessions(b"k" * 32, ttl_s=60)


def test_a_cookie_reads_back_until_it_expires() -> None:
    value, session = SESSIONS.issue("sam", "abc123", now=1000)
    assert SESSIONS.read(value, now=1010) == session
    assert SESSIONS.read(value, now=1061) is None


def test_another_key_or_a_changed_body_is_refused() -> None:
    value, _ = SESSIONS.issue("sam", "abc123", now=1000)
    assert Sessions(b"j" * 32, 60).read(value, now=1000) is None
    _body, mac = value.split(".")
    other, _ = SESSIONS.issue("root", "abc123", now=1000)
    assert SESSIONS.read(f"{other.split('.')[0]}.{mac}", now=1000) is None


@given(st.text(max_size=200))
def test_any_string_is_at_most_no_session(text: str) -> None:
    assert SESSIONS.read(text, now=1000) is None
