"""The commands a docs page shows, read from its fenced blocks, in page order.

A ```` ```console ```` block is run: each ``$ `` line is a command (a line ending in ``\\``
goes on on the next), the lines under it the output it must print (see ``matching``). Other
shell blocks (``bash``, ``sh``, ``shell``) are never run, so each must say why, and so must
a console block that cannot run in a test. An HTML comment just before a block, which a
rendered page does not show, says what the test does with it:

- ``<!-- docs-test: not run: REASON -->``: shown, not run; the reason is reported.
- ``<!-- docs-test: background -->``: a console block with one command that keeps running
  (a server); the test waits for its output, runs the rest of the page, then stops it.
- ``<!-- docs-test: file PATH -->``: the block's text is written to PATH (a file that later
  commands read, such as a ``roles.yaml``).
- ``<!-- docs-test: ports 8000 8001 -->`` (anywhere in the page): these port numbers are
  replaced by free ones in the page's commands, files and outputs.
- ``<!-- docs-test: finally COMMAND -->`` (anywhere in the page): run after the page, even
  when a command failed, to stop what the page started in the background itself (such as
  ``baton monitor down``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.docs.matching import Expected, expected_from_lines

SHELLS = frozenset({"console", "bash", "sh", "shell", "shell-session", "zsh"})
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")

Kind = Literal["run", "background", "file", "not-run", "other"]


class PageError(ValueError):
    """A page whose blocks the docs test cannot read: names the page, line and fix."""


@dataclass(frozen=True)
class Command:
    text: str
    expected: Expected
    line: int  # 1-based line of the ``$`` in the page


@dataclass(frozen=True)
class Block:
    kind: Kind
    lang: str
    line: int  # 1-based line of the opening fence
    content: str
    commands: tuple[Command, ...] = ()
    path: str | None = None  # kind "file"
    reason: str | None = None  # kind "not-run"


@dataclass(frozen=True)
class Page:
    path: Path
    blocks: tuple[Block, ...]
    ports: tuple[int, ...] = field(default=())
    cleanup: tuple[str, ...] = field(default=())

    @property
    def commands(self) -> list[Command]:
        return [c for b in self.blocks if b.kind in ("run", "background") for c in b.commands]

    @property
    def not_run(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "not-run"]


def read_page(path: Path) -> Page:
    """Every fenced block of a Markdown page, with what the docs test does with it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    ports: list[int] = []
    cleanup: list[str] = []
    directive: tuple[str, int] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if found := DIRECTIVE.match(line):
            body = found.group("body")
            if body.startswith("ports"):
                ports.extend(_ports(path, index + 1, body))
            elif body.startswith("finally "):
                cleanup.append(body.removeprefix("finally ").strip())
            else:
                directive = (body, index + 1)
            index += 1
            continue
        fence = FENCE.match(line)
        if fence is None:
            if line.strip():
                _dangling(path, directive)
            index += 1
            continue
        end = _closing(lines, index, fence.group("fence"), path)
        indent = len(fence.group("indent"))
        body_lines = [_dedent(text, indent) for text in lines[index + 1 : end]]
        blocks.append(_block(path, fence.group("info"), index + 1, body_lines, directive))
        directive = None
        index = end + 1
    _dangling(path, directive)
    return Page(path, tuple(blocks), tuple(ports), tuple(cleanup))


def _dedent(text: str, indent: int) -> str:
    """A line of a block nested in a list item, without the item's indentation."""
    return text[indent:] if not text[:indent].strip() else text.lstrip()


def _dangling(path: Path, directive: tuple[str, int] | None) -> None:
    """A marker must be followed by its block: text in between is a mistake, said now."""
    if directive is not None:
        body, line = directive
        raise PageError(f"{path}:{line}: 'docs-test: {body}' must come just before a fenced block")


def _ports(path: Path, line: int, body: str) -> list[int]:
    words = body.split()[1:]
    if not words or not all(word.isdigit() for word in words):
        raise PageError(f"{path}:{line}: write 'docs-test: ports 8000 8001' (port numbers)")
    return [int(word) for word in words]


def _closing(lines: list[str], start: int, fence: str, path: Path) -> int:
    for index in range(start + 1, len(lines)):
        if lines[index].strip().startswith(fence) and not lines[index].strip().strip(fence[0]):
            return index
    raise PageError(f"{path}:{start + 1}: fenced block never closed")


def _block(
    path: Path, info: str, line: int, body: list[str], directive: tuple[str, int] | None
) -> Block:
    lang = info.lower()
    content = "\n".join(body) + ("\n" if body else "")
    text = directive[0] if directive else ""
    if text.startswith("file "):
        return Block("file", lang, line, content, path=text.removeprefix("file ").strip())
    if text.startswith("not run:"):
        reason = text.removeprefix("not run:").strip()
        if not reason:
            raise PageError(f"{path}:{line}: 'docs-test: not run:' needs a reason after it")
        return Block("not-run", lang, line, content, reason=reason)
    if text not in ("", "background"):
        raise PageError(f"{path}:{line}: unknown 'docs-test: {text}'")
    if lang not in SHELLS:
        if text:
            raise PageError(f"{path}:{line}: 'docs-test: {text}' is for console blocks")
        return Block("other", lang, line, content)
    if lang != "console":
        raise PageError(
            f"{path}:{line}: a {lang} block is never run: make it a console block with "
            "'$ ' commands and their output, or mark it '<!-- docs-test: not run: REASON -->'"
        )
    commands = tuple(_commands(path, line, body))
    if text == "background" and len(commands) != 1:
        raise PageError(f"{path}:{line}: a background block holds exactly one command")
    return Block("background" if text else "run", lang, line, content, commands)


def _commands(path: Path, line: int, body: list[str]) -> list[Command]:
    commands: list[Command] = []
    current: list[str] = []
    output: list[str] = []
    start = 0
    for offset, text in enumerate(body, start=line + 1):
        if text.startswith("$ ") and not (current and current[-1].endswith("\\")):
            if current:
                commands.append(Command("\n".join(current), expected_from_lines(output), start))
            current, output, start = [text[2:]], [], offset
        elif current and current[-1].endswith("\\") and not output:
            current.append(text)
        elif current:
            output.append(text)
        elif text.strip():
            raise PageError(f"{path}:{offset}: console block text before its first '$ ' command")
    if current:
        commands.append(Command("\n".join(current), expected_from_lines(output), start))
    if not commands:
        raise PageError(f"{path}:{line}: a console block without a '$ ' command")
    return commands
