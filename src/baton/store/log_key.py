"""The key that seals the audit log: kept outside the database, loaded on first use.

Someone who can write the database but not read this key can neither forge an entry nor
re-seal the chain after tampering. The key comes from ``BATON_AUDIT_KEY`` (for the API and
servers) or from a file, by default ``BATON_HOME/audit.key``, created with mode 0600 on first
use and refused when others can read it. Every writer of one database needs the same key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from baton.config import Settings
from baton.core.chain import key_id
from baton.errors import BadInput, Unavailable

MIN_CHARS = 32


class LogKey:
    """A key loaded once, when an entry is first sealed or checked (read-only commands never)."""

    def __init__(self, load: Callable[[], bytes], origin: str) -> None:
        self._load = load
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self.origin = origin  # where it comes from, for messages (never the key itself)

    @property
    def secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load()
            return self._key

    @property
    def id(self) -> str:
        return key_id(self.secret)

    def __repr__(self) -> str:
        return f"LogKey({self.origin})"


def log_key(settings: Settings) -> LogKey:
    """The key the settings name: ``BATON_AUDIT_KEY``, else the key file."""
    if settings.audit_key is not None:
        text = settings.audit_key.get_secret_value()
        return LogKey(lambda: _checked(text, "BATON_AUDIT_KEY"), "BATON_AUDIT_KEY")
    path = settings.audit_key_path
    return LogKey(lambda: load_or_create(path), str(path))


def fixed_key(secret: bytes, origin: str = "a test key") -> LogKey:
    return LogKey(lambda: secret, origin)


def load_or_create(path: Path) -> bytes:
    """Read the key file, creating it (0600, 256 random bits) if it does not exist yet."""
    try:
        if not path.exists():
            _create(path)
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BadInput(
                f"audit key {path} can be read or written by other users "
                f"(mode {stat.S_IMODE(mode):o}): run `chmod 600 {path}`"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Unavailable(
            f"cannot read the audit key {path} ({exc.strerror or exc}): check BATON_HOME "
            "or BATON_AUDIT_KEY_FILE"
        ) from None
    return _checked(text, str(path))


def _create(path: Path) -> None:
    """Write the whole key to a private temporary file, then link it into place.

    Linking fails if another process created the key first; then its key is the one used,
    and nobody ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit.key.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _checked(text: str, origin: str) -> bytes:
    key = text.strip()
    if len(key) < MIN_CHARS:
        raise BadInput(
            f"the audit key in {origin} is too short ({len(key)} characters): use at least "
            f"{MIN_CHARS}, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return key.encode("utf-8")
