"""Durations the way Prometheus writes them (``90s``, ``15m``, ``14d``, ``1w``, ``1h30m``).

Users type these for ``--window`` and friends because they already type them in PromQL;
one parser keeps the audit, its queries and its messages in the same units.
"""

from __future__ import annotations

import re

UNITS_S = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError with the accepted form when it is not a duration."""
    cleaned = text.strip()
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 15m, 12h, 14d, 2w or 1h30m")
    seconds = sum(float(n) * UNITS_S[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration equal to ``seconds`` (whole seconds, or ms below 1 s)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    left = round(seconds)
    out = ""
    for unit in ("w", "d", "h", "m", "s"):
        size = int(UNITS_S[unit])
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"
