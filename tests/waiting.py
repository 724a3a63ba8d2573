"""Wait on a condition, never a fixed time: a test is as fast as the system lets it be."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 20.0, every: float = 0.1) -> T:
    """Call ``check`` until it returns something truthy, and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def overlap(
    start: Callable[[], list[threading.Thread]],
    count: Callable[[], float],
    want: int,
    attempts: int = 4,
    timeout: float = 60.0,
) -> list[threading.Thread]:
    """Start a burst of calls until ``want`` of them are in flight at once; its threads.

    A burst that a fast (or a slow-sending) machine finishes before that many overlap
    proves nothing: it is waited out and sent again, ``attempts`` times at most.
    """
    for _ in range(attempts):
        threads = start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(t.is_alive() for t in threads):
            if count() >= want:
                return threads
            time.sleep(0.01)
        for thread in threads:
            thread.join(timeout)
    raise AssertionError(f"never {want} calls in flight at once in {attempts} bursts")
