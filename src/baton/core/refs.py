"""References to a model version as people type them: ``NAME``, ``NAME:3``, ``NAME@production``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from baton.errors import BadInput

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,62}"
ALIAS_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
_NAME = re.compile(NAME_PATTERN)
_ALIAS = re.compile(ALIAS_PATTERN)
_VERSION = re.compile(r"[1-9][0-9]{0,8}")  # ASCII digits that fit every database's integer
STANDARD_ALIASES = ("candidate", "staging", "production")


@dataclass(frozen=True)
class Ref:
    """A model name with at most one of a version number or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_name(name: str, what: str = "model name") -> str:
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"{what} {name!r} is not valid: use lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (at most 63 characters)"
        )
    return name


def check_alias(alias: str) -> str:
    if not _ALIAS.fullmatch(alias):
        raise BadInput(
            f"alias {alias!r} is not valid: use lower-case letters, digits, '_' or '-', "
            "starting with a letter (for example: production)"
        )
    return alias


def parse_ref(text: str) -> Ref:
    """Parse ``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS``."""
    text = text.strip()
    if "@" in text and ":" in text:
        raise BadInput(
            f"{text!r} names both a version and an alias: use NAME:VERSION or NAME@ALIAS"
        )
    if ":" in text:
        name, _, number = text.partition(":")
        if not _VERSION.fullmatch(number):
            raise BadInput(
                f"version in {text!r} must be a whole number from 1 to 999999999, as in {name}:3"
            )
        return Ref(check_name(name), version=int(number))
    if "@" in text:
        name, _, alias = text.partition("@")
        return Ref(check_name(name), alias=check_alias(alias))
    return Ref(check_name(text))


def parse_alias_target(text: str) -> tuple[str, str]:
    """Parse ``NAME@ALIAS`` (as in ``baton alias set NAME@ALIAS VERSION``)."""
    ref = parse_ref(text)
    if ref.alias is None:
        raise BadInput(f"{text!r} names no alias: write NAME@ALIAS, as in {ref.name}@production")
    return ref.name, ref.alias


def against_ref(model: str, text: str) -> Ref:
    """A baseline as people type it for ``model``: ``production``, ``3``, ``NAME@ALIAS`` or
    ``NAME:3`` (``baton evaluate --against`` and ``Client.evaluate(against=...)``)."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return parse_ref(f"{model}:{text}")
    if ":" in text or "@" in text:
        return parse_ref(text)
    if text == model:
        raise BadInput(f"--against {text}: name a version or alias, e.g. {model}@production")
    return parse_ref(f"{model}@{text}")
