"""Form tokens: one session, one form, once, and not too old."""

from __future__ import annotations

import pytest

from baton.errors import Forbidden
from baton.ui.csrf import FormTokens


def test_a_token_is_good_once_for_its_session_and_form() -> None:
    tokens = FormTokens(b"k" * 32, ttl_s=100)
    token = tokens.issue("s1", "/ui/x", now=1000)
    with pytest.raises(Forbidden, match="does not belong"):
        tokens.spend(token, "s2", "/ui/x", now=1001)
    with pytest.raises(Forbidden, match="does not belong"):
        tokens.spend(token, "s1", "/ui/y", now=1001)
    tokens.spend(token, "s1", "/ui/x", now=1001)
    with pytest.raises(Forbidden, match="already sent once"):
        tokens.spend(token, "s1", "/ui/x", now=1002)


def test_old_missing_and_malformed_tokens_are_refused() -> None:
    tokens = FormTokens(b"k" * 32, ttl_s=100)
    old = tokens.issue("s1", "/ui/x", now=1000)
    with pytest.raises(Forbidden, match="too old"):
        tokens.spend(old, "s1", "/ui/x", now=1101)
    for bad in (None, "", "a.b", "a.b.c", "a.1.c.d"):
        with pytest.raises(Forbidden):
            tokens.spend(bad, "s1", "/ui/x", now=1000)


def test_spent_tokens_are_forgotten_once_they_would_have_expired() -> None:
    tokens = FormTokens(b"k" * 32, ttl_s=100)
    for i in range(50):
        tokens.spend(tokens.issue("s", "/a", now=1000 + i), "s", "/a", now=1000 + i)
    tokens.spend(tokens.issue("s", "/a", now=2000), "s", "/a", now=2000)
    assert len(tokens._spent) == 1
