"""An instant as people type it: ISO 8601, a local 'YYYY-MM-DD HH:MM', or '3 days ago'. Pure.

A time without a zone is read in the local zone (the one given, else the system's, with its
daylight-saving rules), because "what served at 03:00 last Tuesday" is asked in local time.
Everything comes back as UTC-aware, as the store keeps it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from baton.core.durations import parse_duration
from baton.errors import BadInput

_UNIT_WORDS = {
    "second": "s", "seconds": "s", "sec": "s", "secs": "s",
    "minute": "m", "minutes": "m", "min": "m", "mins": "m",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h",
    "day": "d", "days": "d", "week": "w", "weeks": "w",
}  # fmt: skip
_WORDS_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago")
_SHORT_AGO = re.compile(r"(\S+)\s+ago")
_FORMS = (
    "write ISO 8601 with a zone (2026-11-24T03:00:00+01:00, or ...Z for UTC), a local time "
    "('2026-11-24 03:00'), 'now', or how long ago ('3 days ago', '90m ago')"
)


def parse_instant(text: str, now: datetime, what: str, local: tzinfo | None = None) -> datetime:
    """The UTC instant ``text`` means; BadInput naming ``what`` and the accepted forms when it
    is not one, or when it lies in the future (nothing is recorded there yet)."""
    cleaned = text.strip().lower()
    if cleaned == "now":
        return now.astimezone(UTC)
    ago = _ago(cleaned, text, what)
    moment = now - ago if ago is not None else _absolute(text.strip(), what, local)
    if moment > now:
        raise BadInput(f"{what} {text!r} is in the future (now is {now.isoformat()}): "
                       "history records only what happened")  # fmt: skip
    return moment.astimezone(UTC)


def _ago(cleaned: str, text: str, what: str) -> timedelta | None:
    words = _WORDS_AGO.fullmatch(cleaned)
    if words is not None and words[2] in _UNIT_WORDS:
        return timedelta(seconds=float(words[1]) * parse_duration(f"1{_UNIT_WORDS[words[2]]}"))
    short = _SHORT_AGO.fullmatch(cleaned)
    if short is None:
        return None
    try:
        return timedelta(seconds=parse_duration(short[1]))
    except ValueError:
        raise BadInput(f"{what} {text!r} is not a time: {_FORMS}") from None


def _absolute(text: str, what: str, local: tzinfo | None) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what} {text!r} is not a time: {_FORMS}") from None
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=local) if local is not None else moment.astimezone()
