"""Does a command's output still match what the docs show?

The docs show output as a reader's terminal would, but a terminal's width decides where
lines wrap, so both sides are compared with every run of whitespace (line breaks included)
made one space. ``...`` in the shown output stands for any text, on one line or across
many: timings, hashes, paths and the lines a page leaves out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WILDCARD = "..."
# A shown output may end with this line: the exit status the command must return (else 0).
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")


@dataclass(frozen=True)
class Expected:
    """What the docs promise about one command: its output and its exit status."""

    output: str  # as shown, wildcards included; "" when the page shows no output
    status: int = 0

    @property
    def shows_output(self) -> bool:
        return bool(normalize(self.output))


def expected_from_lines(lines: list[str]) -> Expected:
    """The lines shown under a command, with a closing ``[exit N]`` line taken as its status."""
    shown = [line.rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    status = 0
    if shown and (found := EXIT_LINE.match(shown[-1].strip())):
        status = int(found.group(1))
        shown.pop()
    return Expected("\n".join(shown), status)


def normalize(text: str) -> str:
    """Whitespace runs, line breaks included, as one space: wrapping no longer matters."""
    return " ".join(text.split())


def pattern(shown: str) -> re.Pattern[str]:
    """The regular expression a shown output stands for: literal text, ``...`` any text."""
    parts = [re.escape(normalize(part)) for part in normalize(shown).split(WILDCARD)]
    # a wildcard swallows the spaces beside it, so "a ... b" also matches "a b"
    return re.compile(r"\s*.*?\s*".join(parts), re.DOTALL)


def matches(shown: str, actual: str) -> bool:
    """True when the actual output is what the docs show, wildcards filled in."""
    return pattern(shown).fullmatch(normalize(actual)) is not None


def first_difference(shown: str, actual: str) -> str:
    """A short account of where the shown output stops matching, for the failure message."""
    pieces = [normalize(part) for part in normalize(shown).split(WILDCARD)]
    text = normalize(actual)
    at = 0
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        anchored = index == 0 and not normalize(shown).startswith(WILDCARD)
        found = text.find(piece, at)
        if found < 0 or (anchored and found != 0):
            before = text[max(0, at - 60) : at]
            return f"the docs show {piece[:120]!r}, not found in the output after {before!r}"
        at = found + len(piece)
    if not normalize(shown).endswith(WILDCARD) and at != len(text):
        return f"the output goes on after what the docs show: {text[at : at + 120]!r}"
    return "the pieces are all there but not in a way the pattern accepts"
