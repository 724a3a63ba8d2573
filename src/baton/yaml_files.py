"""Reading the YAML files users write, with the one-line errors baton promises.

Manifests, fleet inventories, price tables, Kubernetes manifests and catalogue files all
fail the same ways (missing, unreadable, not YAML); this is the one place that words it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from baton.errors import BadInput


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, to follow "not valid YAML": " at line 3, column 7: mapping values..."."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{where}: {getattr(exc, 'problem', None) or 'parse error'}"


def read_text(path: Path, what: str, option: str) -> str:
    """The file's text; BadInput naming ``what`` it should be and the ``option`` to fix."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what}; pass {option} with an existing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the {what}: {exc}") from None


def read_yaml(path: Path, what: str, option: str) -> Any:
    """One YAML document from ``path``, with the line and column of a syntax error."""
    text = read_text(path, what, option)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML{yaml_problem(exc)}") from None
