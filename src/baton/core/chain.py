"""The audit log's hash chain: canonical encoding, keyed seals, and the check that finds tampering.

Each entry is sealed with HMAC-SHA256 over its chain position, the previous entry's seal and
its own content, as transparency logs chain theirs. The key lives outside the database, so
whoever can write the database can neither forge an entry nor re-seal the chain after
rewriting, inserting, deleting or reordering one: ``verify`` names the first entry that does
not fit. Truncation (the last entries deleted) shows only against a head kept elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from baton.errors import BadInput

GENESIS = "0" * 64  # the "previous seal" of the first entry
_DOMAIN = b"baton-audit-v1\n"  # versioned, so a future encoding can never collide with this one
_HEAD = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


@dataclass(frozen=True)
class Content:
    """What an audit entry says: the fields a seal protects, besides its place in the chain."""

    at: datetime
    actor: str
    action: str
    model: str | None
    version: int | None
    reason: str | None
    detail: dict[str, object]  # a JSON object, as the database gives it back


@dataclass(frozen=True)
class Entry:
    """One stored row as read back: its id, its claimed place in the chain, and its seal."""

    id: int
    seq: int | None
    prev_hash: str | None
    hash: str | None
    content: Content


@dataclass(frozen=True)
class Head:
    """The newest entry's position and seal: enough to check a log later, even for truncation."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


EMPTY = Head(0, GENESIS)


def parse_head(text: str) -> Head:
    found = _HEAD.match(text.strip().lower())
    if found is None:
        raise BadInput(
            f"head {text!r} is not SEQ:HASH (a number, a colon and 64 hex digits): "
            "`baton log --head` prints one"
        )
    return Head(int(found[1]), found[2])


def canonical(seq: int, prev_hash: str, content: Content) -> bytes:
    """One unambiguous byte string per entry: a JSON array, keys sorted, ASCII only."""
    at = content.at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [
        seq,
        prev_hash,
        at,
        content.actor,
        content.action,
        content.model,
        content.version,
        content.reason,
        content.detail,
    ]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _DOMAIN + text.encode("ascii")


def seal(key: bytes, seq: int, prev_hash: str, content: Content) -> str:
    return hmac.new(key, canonical(seq, prev_hash, content), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name for a key (reveals nothing of it), to tell keys apart in messages."""
    return hmac.new(key, b"baton-audit-key-id", hashlib.sha256).hexdigest()[:16]


def genuine(key: bytes, entry: Entry) -> bool:
    """Whether the entry's seal is the one the key gives its position, predecessor and content."""
    if entry.seq is None or entry.prev_hash is None or entry.hash is None:
        return False
    return hmac.compare_digest(entry.hash, seal(key, entry.seq, entry.prev_hash, entry.content))


class Tamper(StrEnum):
    REWRITTEN = "rewritten"
    INSERTED = "inserted"
    DELETED = "deleted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Finding:
    kind: Tamper
    entry: int | None  # the id of the first entry that does not fit (None: the end of the log)
    message: str


@dataclass(frozen=True)
class Verdict:
    entries: int  # entries checked and found genuine, in order
    head: Head  # the last genuine entry before any finding
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


def verify(
    entries: Iterable[Entry],
    key: bytes,
    *,
    recorded: Head | None = None,
    kept: Head | None = None,
) -> Verdict:
    """Walk the entries in chain order (by position, then id) and stop at the first misfit.

    ``recorded`` is the head the store itself keeps (it catches entries forged past the end
    and truncation by someone who forgot it); ``kept`` is a head saved elsewhere, which
    catches truncation by anyone.
    """
    walk = _Walk(key, recorded, kept)
    for entry, after in _with_next(entries):
        finding = walk.step(entry, after)
        if finding is not None:
            return Verdict(walk.count, walk.head, finding)
    return Verdict(walk.count, walk.head, walk.finish(kept))


def _with_next(entries: Iterable[Entry]) -> Iterator[tuple[Entry, Entry | None]]:
    it = iter(entries)
    current = next(it, None)
    while current is not None:
        after = next(it, None)
        yield current, after
        current = after


class _Walk:
    """The state of a walk along the chain: what the next entry must be."""

    def __init__(self, key: bytes, recorded: Head | None, kept: Head | None) -> None:
        self.key = key
        self.recorded = recorded
        self.head = EMPTY
        self.last_id: int | None = None
        self.count = 0
        wanted = {h.seq for h in (recorded, kept) if h is not None}
        self.seals: dict[int, tuple[int, str]] = dict.fromkeys(wanted - {0}, (0, ""))
        self.seals[0] = (0, GENESIS)

    def step(self, entry: Entry, after: Entry | None) -> Finding | None:
        if not genuine(self.key, entry):
            return self._forged(entry, after)
        expected = self.head.seq + 1
        assert entry.seq is not None and entry.hash is not None
        if entry.seq < expected:
            return Finding(
                Tamper.INSERTED,
                entry.id,
                f"entry #{entry.id} was inserted: it repeats position {entry.seq} of the chain "
                "(a copy of a genuine entry)",
            )
        if entry.seq > expected:
            return Finding(
                Tamper.DELETED,
                entry.id,
                f"{_count(entry.seq - expected)} deleted before entry #{entry.id}: the chain "
                f"jumps from position {self.head.seq} to {entry.seq}",
            )
        if entry.prev_hash != self.head.hash:
            return Finding(
                Tamper.REWRITTEN,
                entry.id,
                f"entry #{entry.id} does not follow the entry before it: the log was spliced",
            )
        if self.last_id is not None and entry.id < self.last_id:
            return Finding(
                Tamper.REORDERED,
                entry.id,
                f"entry #{entry.id} was moved: it is position {entry.seq} of the chain but "
                f"shows before #{self.last_id} (position {entry.seq - 1})",
            )
        self.head, self.last_id = Head(entry.seq, entry.hash), entry.id
        if entry.seq in self.seals:
            self.seals[entry.seq] = (entry.id, entry.hash)
        self.count += 1
        return None

    def _forged(self, entry: Entry, after: Entry | None) -> Finding:
        """An entry whose seal does not match: its content changed, or it was never sealed."""
        expected = self.head.seq + 1
        resumes = (
            after is not None
            and after.seq == expected
            and after.prev_hash == self.head.hash
            and genuine(self.key, after)
        )
        beyond = self.recorded is not None and (entry.seq or 0) > self.recorded.seq
        in_place = entry.seq == expected and entry.prev_hash == self.head.hash
        if in_place and not resumes and not beyond:
            return Finding(
                Tamper.REWRITTEN,
                entry.id,
                f"entry #{entry.id} was rewritten: its content no longer matches its seal",
            )
        return Finding(
            Tamper.INSERTED,
            entry.id,
            f"entry #{entry.id} was inserted: it is not sealed with the audit key",
        )

    def finish(self, kept: Head | None) -> Finding | None:
        if kept is not None:
            finding = self._against(kept, "the head you kept")
            if finding is not None:
                return finding
        if self.recorded is None:
            return None
        finding = self._against(self.recorded, "the head the store recorded")
        if finding is None and self.recorded.seq < self.head.seq:
            return Finding(
                Tamper.REWRITTEN,
                None,
                f"the head the store recorded (position {self.recorded.seq}) is behind the "
                f"log (position {self.head.seq}): it was set back",
            )
        return finding

    def _against(self, head: Head, whose: str) -> Finding | None:
        if head.seq > self.head.seq:
            return Finding(
                Tamper.TRUNCATED,
                None,
                f"the log was truncated: it ends at position {self.head.seq} but {whose} is "
                f"at position {head.seq} ({_count(head.seq - self.head.seq)} deleted from the end)",
            )
        entry_id, found = self.seals[head.seq]
        if hmac.compare_digest(found, head.hash):
            return None
        where = f"entry #{entry_id}" if head.seq > 0 else "the start of the log"
        return Finding(
            Tamper.REWRITTEN,
            entry_id if head.seq > 0 else None,
            f"{where} (position {head.seq}) is not the entry {whose} names: the log was "
            "replaced from there on, or the head belongs to another store",
        )


def _count(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"
