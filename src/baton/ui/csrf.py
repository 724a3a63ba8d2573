"""Form tokens: each form carries one, bound to the session and to where it is sent, and
good once.

A token is ``nonce.issued.mac``; the mac covers the session id, the form's target path,
the nonce and the time, so a token from another session or another form does not fit. A
spent nonce is remembered until the token would have expired anyway, so a form sent twice
(replayed) is refused the second time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from baton.errors import Forbidden

ANONYMOUS = "-"  # the session id of forms shown before sign-in


class FormTokens:
    def __init__(self, secret: bytes, ttl_s: float = 4 * 3600) -> None:
        self.secret = secret
        self.ttl_s = ttl_s
        self._spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, sid: str, action: str, now: float | None = None) -> str:
        nonce = secrets.token_urlsafe(12)
        issued = str(int(now or time.time()))
        return f"{nonce}.{issued}.{self._mac(sid, action, nonce, issued)}"

    def spend(self, token: str | None, sid: str, action: str, now: float | None = None) -> None:
        """Accept a token once; Forbidden for a missing, forged, foreign, old or spent one."""
        moment = now or time.time()
        parts = (token or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            raise Forbidden("this form has no valid form token: reload the page and send it again")
        nonce, issued, mac = parts
        if not hmac.compare_digest(mac, self._mac(sid, action, nonce, issued)):
            raise Forbidden(
                "this form's token does not belong to your session or to this form "
                "(was it sent from another page?): reload the page and send it again"
            )
        if moment - int(issued) > self.ttl_s:
            raise Forbidden("this form is too old: reload the page and send it again")
        with self._lock:
            self._forget(moment)
            if nonce in self._spent:
                raise Forbidden(
                    "this form was already sent once (a form is good once): reload the page "
                    "to act again"
                )
            self._spent[nonce] = int(issued) + self.ttl_s

    def _forget(self, now: float) -> None:
        for nonce in [n for n, until in self._spent.items() if until < now]:
            del self._spent[nonce]

    def _mac(self, sid: str, action: str, nonce: str, issued: str) -> str:
        message = "|".join(("form", sid, action, nonce, issued)).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]
