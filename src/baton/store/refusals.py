"""Audit-log entries for refusals anyone can cause in bulk: failed sign-ins, refused admin actions.

Each is written in a transaction of its own (the refused work wrote nothing), through a
throttle (``core/ratelimit.py``) so a flood cannot fill the disk: an entry let through
carries ``suppressed``, the count of like events left out before it, and ``flush`` (at
shutdown) writes what no later entry reported. The token itself is never recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress

from sqlalchemy.engine import Engine

from baton.core.ratelimit import Limits, Throttle
from baton.errors import BatonError
from baton.store.tx import append_entry, write

SIGN_IN = "auth.failed"
ADMIN = "admin.refused"
SYSTEM = "baton"  # the actor of summaries: baton itself writes them


class RefusalLog:
    """One per process (per API app, per CLI run): the throttle's state lives in memory."""

    def __init__(
        self,
        engine: Engine,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._throttle: Throttle[tuple[str, str]] = Throttle(limits or Limits())
        self._lock = threading.Lock()  # the API records from its thread pool

    def sign_in_failed(self, source: str, why: str, token_id: str | None = None) -> bool:
        """A request without a valid token; ``token_id`` only for a known (revoked) token."""
        detail = {"token": token_id} if token_id else {}
        return self._record("anonymous", SIGN_IN, source, why, detail)

    def admin_refused(self, actor: str, wanted: str) -> bool:
        """A non-admin asked for something only an admin may do."""
        return self._record(actor, ADMIN, actor, "not an admin", {"wanted": wanted})

    def flush(self) -> int:
        """Write one summary entry per key whose suppressed events no entry has reported."""
        with self._lock:
            pending = self._throttle.drain()
        for (source, (action, why)), count in pending.items():
            detail = {"source": source, "why": why, "suppressed": count, "summary": True}
            self._write(SYSTEM, action, detail)
        return len(pending)

    def _record(
        self, actor: str, action: str, source: str, why: str, detail: Mapping[str, object]
    ) -> bool:
        with self._lock:
            suppressed = self._throttle.admit(source, (action, why), self.clock())
        if suppressed is None:
            return False
        full: dict[str, object] = {"source": source, "why": why, **detail}
        if suppressed:
            full["suppressed"] = suppressed
        self._write(actor, action, full)
        return True

    def _write(self, actor: str, action: str, detail: Mapping[str, object]) -> None:
        with suppress(BatonError):  # the database is gone: the refusal itself still stands
            write(self.engine, lambda conn: append_entry(conn, actor, action, detail=detail))
