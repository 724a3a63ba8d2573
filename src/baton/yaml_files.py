"""Reading the YAML files users write, with the one-line errors baton promises.

Manifests, fleet inventories, price tables, Kubernetes manifests and catalogue files all
fail the same ways (missing, unreadable, not YAML, too big); this is the one place that
words it. Every document is bounded before it is built (``YamlLimits``): bytes, nesting
depth, nodes (an alias counts as the whole node it repeats, so a "billion laughs" file is
refused) and the length of one scalar. The events are checked first with libyaml's
parser, which does not recurse, so a deeply nested file never reaches the recursive
composer; a value the safe constructor cannot build (``2026-13-45``, ``!!int x``) is a
syntax error like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from baton.errors import BadInput
from baton.yaml_limits import MANIFEST_LIMITS as MANIFEST_LIMITS
from baton.yaml_limits import YamlLimits as YamlLimits

# libyaml when PyYAML was built with it (4x faster); the pure-Python classes otherwise.
_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Parser):  # type: ignore[misc]
    """The safe loader, with constructor failures turned into YAML errors that say where."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            value = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_short(value)} as {node.tag}", node.start_mark
            ) from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, to follow "not valid YAML": " at line 3, column 7: mapping values..."."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{where}: {getattr(exc, 'problem', None) or 'parse error'}"


def read_text(path: Path, what: str, option: str, limits: YamlLimits | None = None) -> str:
    """The file's text; BadInput naming ``what`` it should be and the ``option`` to fix.

    With ``limits``, a file over ``max_bytes`` is refused after reading one byte more."""
    try:
        with path.open("rb") as f:
            data = f.read() if limits is None else f.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}; pass {option} with an existing file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the {what}: {exc}") from None
    if limits is not None and len(data) > limits.max_bytes:
        raise limits.over(str(path), f"more than {limits.max_bytes:,} bytes", "BYTES")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{path}: the {what} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None


def load_yaml(text: str, source: str, limits: YamlLimits) -> Any:
    """One YAML document, checked against ``limits`` before it is built.

    Raises ``yaml.YAMLError`` for syntax (callers word it with ``yaml_problem``) and
    BadInput, starting with ``source``, for a document over a limit. (``read_text`` counts
    the bytes; here a text of more characters than ``max_bytes`` is refused.)"""
    _check(text, source, limits)
    return yaml.load(text, Loader=_Loader)


def read_yaml(path: Path, what: str, option: str, limits: YamlLimits | None = None) -> Any:
    """One YAML document from ``path``, with the line and column of a syntax error."""
    limits = limits or YamlLimits()
    text = read_text(path, what, option, limits)
    try:
        return load_yaml(text, str(path), limits)
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML{yaml_problem(exc)}") from None


def read_yaml_documents(
    path: Path, what: str, option: str, limits: YamlLimits | None = None
) -> list[Any]:
    """Every document of a multi-document YAML file (``---``), bounded and worded as
    ``read_yaml`` (the limits hold for the whole file)."""
    limits = limits or YamlLimits()
    text = read_text(path, what, option, limits)
    try:
        _check(text, str(path), limits)
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML{yaml_problem(exc)}") from None


def _check(text: str, source: str, limits: YamlLimits) -> None:
    if len(text) > limits.max_bytes:
        raise limits.over(source, f"more than {limits.max_bytes:,} bytes", "BYTES")
    _check_events(text, source, limits)


def _check_events(text: str, source: str, limits: YamlLimits) -> None:
    """Depth, node count (aliases expanded) and scalar length, from the parser's events."""
    depth = 0
    nodes = 0
    sizes: dict[str, int] = {}  # anchor -> nodes it stands for
    starts: list[tuple[str | None, int]] = []  # open collections: anchor, nodes before it
    for event in yaml.parse(text, Loader=_Parser):
        if isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if len(event.value) > limits.max_string:
                what = f"a key or value longer than {limits.max_string:,} characters"
                raise limits.over(source, what, "STRING", _line(event))
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            nodes += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            starts.append((event.anchor, nodes))
            nodes += 1
            depth += 1
            if depth > limits.max_depth:
                what = f"more than {limits.max_depth} levels of nesting"
                raise limits.over(source, what, "DEPTH", _line(event))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, before = starts.pop()
            if anchor is not None:
                sizes[anchor] = nodes - before
        if nodes > limits.max_nodes:
            what = f"more than {limits.max_nodes:,} keys, values and items"
            raise limits.over(source, what, "NODES", _line(event))


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else int(mark.line)


def _short(value: object, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
