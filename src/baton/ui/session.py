"""Signed session cookies: who signed in, with which token (its public id only), until when.

A token typed into the sign-in form is checked once and never kept: the cookie holds the
person's name and the token's public id, signed with the app's secret. Every request
asks the store again whether that token still stands, so revoking it ends the session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "baton_session"


@dataclass(frozen=True)
class Session:
    person: str
    token_id: str
    sid: str  # random per sign-in: form tokens are bound to it
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self.secret = secret
        self.ttl_s = ttl_s

    def issue(self, person: str, token_id: str, now: float | None = None) -> tuple[str, Session]:
        """A new session and its cookie value."""
        session = Session(
            person, token_id, secrets.token_urlsafe(16), (now or time.time()) + self.ttl_s
        )
        body = json.dumps(
            {"p": session.person, "t": session.token_id, "s": session.sid, "e": session.expires},
            separators=(",", ":"),
        ).encode("utf-8")
        return f"{_b64(body)}.{_b64(self._mac(body))}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body_text, mac_text = cookie.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(body)
            session = Session(str(data["p"]), str(data["t"]), str(data["s"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.secret, b"session|" + body, hashlib.sha256).digest()
