"""Terminal output: Rich for people, JSON for scripts, one line on stderr for errors.

Text from users (names, reasons, request texts, descriptions, file contents, error
messages) is shown as text: every value printed goes through ``safe``, which makes Rich
markup and emoji codes literal and control characters visible (``\\x1b``), so a stored
string can neither clear the screen, set the title, nor restyle or forge output. The
consoles also neutralise control characters in anything else they print.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from rich.console import (
    Console,
    ConsoleOptions,
    HighlighterType,
    JustifyMethod,
    OverflowMethod,
    RenderableType,
)
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from baton.errors import BatonError, Kind

T = TypeVar("T")

# C0 and C1 controls, DEL, and the invisible characters that reorder or break lines
# ("Trojan source"): none has a place in a value shown in a terminal.
_BIDI = "\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # keeps \t \n
_BACKSLASH = re.compile(r"\\(?=\[|\Z)")  # one Rich would take for an escape


def _visible(found: re.Match[str]) -> str:
    code = ord(found[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str, *, keep_layout: bool = False) -> str:
    """Control characters replaced by their escaped form, so the terminal shows, not obeys."""
    return (_UNSAFE_BUT_LAYOUT if keep_layout else _UNSAFE).sub(_visible, text)


def safe(value: object) -> str:
    """A value to put into printed text: its control characters shown escaped, its Rich
    markup literal (the consoles also leave ``:emoji:`` codes alone).

    A backslash before ``[`` or at the end is shown as ``\\x5c``: Rich reads it as an
    escape, of the value's bracket or of the tag after the value (``[/]``), and no
    doubling is right both before a tag and before plain text.
    """
    return escape(_BACKSLASH.sub(r"\\x5c", inert(str(value))))


def cells(*values: object) -> list[Text]:
    """A table row of values shown as they are: plain text, never markup, controls escaped."""
    return [Text(inert(str(v))) for v in values]


class SafeConsole(Console):
    """A console that never passes a control character on, whatever it is asked to print.

    Strings are cleaned before layout (so tables keep their shape); anything else (a ``Text``
    built from a stored value, say) is cleaned segment by segment as it is rendered. Rich's
    own control segments (cursor moves for progress bars) pass.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not _UNSAFE_BUT_LAYOUT.search(segment.text):
                yield segment
            else:
                yield Segment(inert(segment.text, keep_layout=True), segment.style)

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: HighlighterType | None = None,
    ) -> Text:
        return super().render_str(
            inert(text, keep_layout=True),
            style=style,
            justify=justify,
            overflow=overflow,
            emoji=emoji,
            markup=markup,
            highlight=highlight,
            highlighter=highlighter,
        )


console = SafeConsole(highlight=False, emoji=False)
err_console = SafeConsole(stderr=True, highlight=False, emoji=False)

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
    """Dataclasses, pydantic models (as they are stored), datetimes, enums and paths as
    JSON-ready values."""
    pydantic = sys.modules.get("pydantic")  # not imported: no model to print (25 ms saved)
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
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


def print_listing(
    items: Sequence[T],
    json_out: bool,
    *,
    headers: Sequence[str],
    row: Callable[[T], Iterable[object]],
    empty: str | None = None,
) -> None:
    """A list command's output: JSON for scripts, else a table of one row an item (its
    values shown as text, never markup); with ``empty``, that hint (what makes one) in
    place of an empty table."""
    if json_out:
        print_json(items)
        return
    if not items and empty is not None:
        console.print(empty)
        return
    table = Table(*headers)
    for item in items:
        table.add_row(*cells(*row(item)))
    console.print(table)


def fail(exc: BatonError) -> int:
    # the message is text, never markup: "pip install 'modelbaton[torch]'" keeps its [torch]
    message = inert(exc.message)
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
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
