"""Template filters: times, numbers and figure data, written the same way on every page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment
from markupsafe import Markup

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"}


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def script_json(text: str) -> Markup:
    """JSON made safe inside ``<script type="application/json">``: no ``</script>`` can
    end the block, whatever the data holds (a label, a model name)."""
    for char, escape in _JSON_ESCAPES.items():
        text = text.replace(char, escape)
    return Markup(text)


def figure_json(fig: Any) -> Markup:
    return script_json(str(fig.to_json()))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def query(base: dict[str, Any], **changes: Any) -> str:
    """A query string: ``base`` with ``changes``, empty values left out."""
    merged = {**base, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def install(env: Environment) -> None:
    env.filters.update(when=when, num=num, figure_json=figure_json, pretty_json=pretty_json)
    env.globals.update(query=query)
