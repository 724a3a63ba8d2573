"""Token buckets that decide which events of a flood to write down, and count the rest. Pure.

Failed sign-ins and refused admin actions are audited, but anyone who can reach the API can
cause them in bulk, so each (source, reason) key gets a small bucket and all keys share a
total one: a flood costs a bounded number of entries per minute, whatever its shape. An
event that is let through carries the number suppressed for its key since the last one,
so the log still says how many there were. Time is passed in (seconds, monotonic).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R", bound=Hashable)  # what a key's reason is: a string, a tuple of strings...
OVERFLOW = "*"  # the source that stands for every source once ``max_keys`` are tracked


@dataclass
class Bucket:
    """``capacity`` tokens at most, refilled at ``per_second``; each event takes one."""

    capacity: float
    per_second: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, capacity: float, per_second: float, now: float) -> Bucket:
        return cls(capacity, per_second, capacity, now)

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        self.stamp = max(self.stamp, now)

    def is_full(self) -> bool:
        return self.tokens >= self.capacity


@dataclass(frozen=True)
class Limits:
    burst: int = 5  # entries one key may write at once
    per_minute: float = 1.0  # and then, sustained
    total_burst: int = 60  # entries all keys together may write at once
    total_per_minute: float = 12.0  # and then, sustained
    max_keys: int = 10_000  # keys tracked; beyond, new sources share one overflow key


@dataclass
class _Slot:
    bucket: Bucket
    suppressed: int = 0


@dataclass
class Throttle(Generic[R]):
    """Per (source, reason) buckets, one shared total bucket, and the counts they cut."""

    limits: Limits = field(default_factory=Limits)
    _slots: dict[tuple[str, R], _Slot] = field(default_factory=dict)
    _total: Bucket | None = None
    _pruned_at: float | None = None

    def admit(self, source: str, reason: R, now: float) -> int | None:
        """None when this event is suppressed (and counted); otherwise the number of
        events suppressed for this key since the last one admitted."""
        slot = self._slot(source, reason, now)
        total = self._total_bucket(now)
        slot.bucket.refill(now)
        total.refill(now)
        if slot.bucket.tokens < 1 or total.tokens < 1:
            slot.suppressed += 1
            return None
        slot.bucket.tokens -= 1
        total.tokens -= 1
        suppressed, slot.suppressed = slot.suppressed, 0
        return suppressed

    def drain(self) -> dict[tuple[str, R], int]:
        """Every key's suppressed count not yet reported, reset to zero (for a summary)."""
        out = {key: slot.suppressed for key, slot in self._slots.items() if slot.suppressed}
        for key in out:
            self._slots[key].suppressed = 0
        return out

    def _slot(self, source: str, reason: R, now: float) -> _Slot:
        key = (source, reason)
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        if len(self._slots) >= self.limits.max_keys:
            self._forget_idle(now)
        if len(self._slots) >= self.limits.max_keys:
            key = (OVERFLOW, reason)
            slot = self._slots.get(key)
            if slot is not None:
                return slot
        per_second = self.limits.per_minute / 60
        slot = _Slot(Bucket.full(self.limits.burst, per_second, now))
        self._slots[key] = slot
        return slot

    def _forget_idle(self, now: float) -> None:
        """Drop keys whose bucket has refilled and that owe no count: they hold nothing.
        At most once a second, so a flood of new sources does not rescan every key."""
        if self._pruned_at is not None and now - self._pruned_at < 1:
            return
        self._pruned_at = now
        for key, slot in list(self._slots.items()):
            slot.bucket.refill(now)
            if slot.bucket.is_full() and not slot.suppressed:
                del self._slots[key]

    def _total_bucket(self, now: float) -> Bucket:
        if self._total is None:
            per_second = self.limits.total_per_minute / 60
            self._total = Bucket.full(self.limits.total_burst, per_second, now)
        return self._total
