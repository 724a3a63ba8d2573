"""File-based service discovery: each running server lists itself for Prometheus.

``baton serve`` writes ``<host>_<port>.json`` (Prometheus' ``file_sd`` format) into
``BATON_HOME/monitor/targets`` when it starts and removes it when it stops, so the
bundle's Prometheus configuration finds every local server without being edited.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_ANY = {"0.0.0.0", "::", ""}


def advertised(host: str) -> str:
    """The address Prometheus should scrape for a server bound to ``host``."""
    if host in _ANY:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def register(folder: Path, host: str, port: int, models: list[str]) -> Path:
    """Write this server's target file atomically; returns its path for ``unregister``."""
    folder.mkdir(parents=True, exist_ok=True)
    address = f"{advertised(host)}:{port}"
    entry = [{"targets": [address], "labels": {"baton_models": ",".join(sorted(models))}}]
    path = folder / f"{address.replace(':', '_').strip('[]')}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".target-")
    with os.fdopen(fd, "w") as out:
        json.dump(entry, out)
    os.replace(tmp, path)
    return path


def unregister(path: Path) -> None:
    path.unlink(missing_ok=True)
