"""Garbage collection of the artifact folder: files no record names, and leftovers in ``.tmp``.

A kill (``kill -9``, a lost host) between storing a file and committing its record leaves
a stored file that nothing names; a kill mid-copy leaves a partial file in ``.tmp``. Both
are harmless but take space. A file is referenced if any record names it
(``Registry.referenced_digests``); referenced files are never touched.

An unreferenced file younger than the grace period is kept: a registration on this or
another host sharing the folder may have stored it and not yet committed. Every put gives
the file a fresh modification time, even when the bytes were already there, and the
removal itself looks again after moving the file aside (``ArtifactStore.discard``), so a
registration that re-uses an old orphan while gc runs keeps it. The grace period must
exceed the longest registration (default 24 h) and any clock difference between hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from os import stat_result

from baton.core.durations import format_duration
from baton.store.artifacts import Entry
from baton.store.store import Store

MAX_LOGGED_DIGESTS = 100  # the log entry names this many removed files, then counts


@dataclass(frozen=True)
class Leftovers:
    """What gc would remove now, and how much it leaves for the grace period."""

    orphans: list[Entry]  # stored files no record names, older than the grace period
    temporary: list[Entry]  # entries of .tmp older than the grace period
    young: int  # unreferenced or temporary entries kept: younger than the grace period
    grace_s: float
    referenced: set[str] = field(repr=False)

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.orphans + self.temporary)

    @property
    def empty(self) -> bool:
        return not self.orphans and not self.temporary


@dataclass(frozen=True)
class Collected:
    found: Leftovers
    removed_orphans: list[str]
    removed_temporary: list[str]
    freed_bytes: int
    dry_run: bool
    failed: list[str] = field(default_factory=list)  # what could not be removed, and why


def find_leftovers(store: Store, grace_s: float, now: float | None = None) -> Leftovers:
    """Orphans and stale temporary entries, judged against the records as they are now."""
    cutoff = (time.time() if now is None else now) - grace_s
    stored = store.artifacts.stored()
    temporary = store.artifacts.temporary()
    referenced = store.registry.referenced_digests()  # read after listing: see module doc
    unreferenced = [e for e in stored if e.name not in referenced]
    return Leftovers(
        orphans=[e for e in unreferenced if e.mtime < cutoff],
        temporary=[e for e in temporary if e.mtime < cutoff],
        young=sum(1 for e in unreferenced + temporary if e.mtime >= cutoff),
        grace_s=grace_s,
        referenced=referenced,
    )


def collect(
    store: Store, *, grace_s: float, actor: str, dry_run: bool = False, now: float | None = None
) -> Collected:
    """Remove orphans and stale temporary entries, and record what went in the audit log."""
    now = time.time() if now is None else now
    found = find_leftovers(store, grace_s, now)
    if dry_run:
        return Collected(found, [], [], 0, dry_run=True)
    failed: list[str] = []
    removed = _remove_orphans(store, found.orphans, int((now - grace_s) * 1e9), failed)
    cleared = _clear_temporary(store, found, failed)
    result = Collected(
        found,
        [e.name for e in removed],
        [e.name for e in cleared],
        sum(e.size for e in removed + cleared),
        dry_run=False,
        failed=failed,
    )
    if removed or cleared:
        _log_removals(store, actor, result)
    return result


def _remove_orphans(
    store: Store, orphans: list[Entry], cutoff_ns: int, failed: list[str]
) -> list[Entry]:
    removed = []
    for entry in orphans:
        try:
            if store.artifacts.discard(entry.name, _younger_than(cutoff_ns)):
                removed.append(entry)
        except OSError as exc:
            failed.append(f"{entry.name[:12]} ({exc.strerror})")
    return removed


def _clear_temporary(store: Store, found: Leftovers, failed: list[str]) -> list[Entry]:
    cleared = []
    for entry in found.temporary:
        try:
            store.artifacts.remove_temporary(entry.name, found.referenced)
            cleared.append(entry)
        except OSError as exc:
            failed.append(f".tmp/{entry.name} ({exc.strerror})")
    return cleared


def _younger_than(cutoff_ns: int) -> Callable[[stat_result], bool]:
    """Keep a file put (or re-put) after the cutoff: a registration may be about to name it."""
    return lambda st: st.st_mtime_ns >= cutoff_ns


def _log_removals(store: Store, actor: str, result: Collected) -> None:
    digests = result.removed_orphans
    store.registry.append_entry(
        actor,
        "artifacts.gc",
        detail={
            "orphans": len(digests),
            "temporary": len(result.removed_temporary),
            "bytes": result.freed_bytes,
            "grace": format_duration(result.found.grace_s) if result.found.grace_s else "0",
            "digests": digests[:MAX_LOGGED_DIGESTS],
            "more": max(0, len(digests) - MAX_LOGGED_DIGESTS),
        },
    )
