"""The one-line errors users see.

Every error baton raises on purpose is a ``BatonError`` with a *kind*. The core and the
services raise them and know nothing of HTTP or exit codes; each edge (CLI, HTTP) maps the
kind to its own status in one table. The HTTP edges (API, dashboard) share ``HTTP_STATUS``,
so a refusal has the same status whichever of them a person used.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    BAD_INPUT = "bad_input"  # the user gave something wrong: fix the input and retry
    NOT_FOUND = "not_found"  # a named thing does not exist
    CONFLICT = "conflict"  # the request clashes with the current state
    FORBIDDEN = "forbidden"  # known caller, not allowed
    UNAUTHORIZED = "unauthorized"  # caller not known
    UNAVAILABLE = "unavailable"  # a part baton needs (database, file system) cannot be reached
    CORRUPT = "corrupt"  # stored data failed its integrity check
    FAILED_CHECK = "failed_check"  # a gate or check ran and said no


HTTP_STATUS: dict[Kind, int] = {
    Kind.BAD_INPUT: 400,
    Kind.UNAUTHORIZED: 401,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.FAILED_CHECK: 422,
    Kind.CORRUPT: 500,
    Kind.UNAVAILABLE: 503,
}


class BatonError(Exception):
    """An expected failure with a message meant for a person: what is wrong, and the fix."""

    kind: Kind = Kind.BAD_INPUT

    def __init__(self, message: str, *, kind: Kind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadInput(BatonError):
    kind = Kind.BAD_INPUT


class NotFound(BatonError):
    kind = Kind.NOT_FOUND


class Conflict(BatonError):
    kind = Kind.CONFLICT


class Forbidden(BatonError):
    kind = Kind.FORBIDDEN


class Unauthorized(BatonError):
    kind = Kind.UNAUTHORIZED


class Unavailable(BatonError):
    kind = Kind.UNAVAILABLE


class Corrupt(BatonError):
    kind = Kind.CORRUPT


class FailedCheck(BatonError):
    kind = Kind.FAILED_CHECK
