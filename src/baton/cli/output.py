"""Terminal output: Rich for people, JSON for scripts, one line on stderr for errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from baton.errors import BatonError, Kind

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_CODES: dict[Kind, int] = {
    Kind.BAD_INPUT: 2,
    Kind.NOT_FOUND: 2,
    Kind.UNAVAILABLE: 2,
    Kind.CONFLICT: 1,
    Kind.FORBIDDEN: 1,
    Kind.UNAUTHORIZED: 1,
    Kind.CORRUPT: 1,
    Kind.FAILED_CHECK: 1,
}


def to_plain(value: Any) -> Any:
    """Dataclasses, datetimes, enums and paths as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any, *, line: bool = False) -> None:
    """``line``: one compact line, for what a long-running command says once it is ready
    (a script reads it with one readline); flushed either way."""
    plain = to_plain(value)
    text = json.dumps(plain, separators=(",", ":")) if line else json.dumps(plain, indent=2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(exc: BatonError) -> int:
    # the message is text, never markup: "pip install 'modelbaton[torch]'" keeps its [torch]
    err_console.print(Text.assemble(("error:", "bold red"), " ", exc.message), soft_wrap=True)
    return EXIT_CODES[exc.kind]


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
