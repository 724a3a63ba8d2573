"""File-based service discovery: each running server lists itself for Prometheus.

``baton serve`` writes ``<host>_<port>.json`` (Prometheus' ``file_sd`` format) into
``BATON_HOME/monitor/targets`` when it starts and removes it when it stops, so the
bundle's Prometheus configuration finds every local server without being edited.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

_ANY = {"0.0.0.0", "::", ""}


def advertised(host: str) -> str:
    """The address Prometheus should scrape for a server bound to ``host``."""
    if host in _ANY:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def register(
    folder: Path, host: str, port: int, models: list[str], labels: Mapping[str, str] | None = None
) -> Path:
    """Write this server's target file atomically; returns its path for ``unregister``.

    ``labels`` are added to every series scraped from it: a local deployment rewrites its
    servers' files with ``variant`` (stable, baseline, canary) for the canary judge."""
    folder.mkdir(parents=True, exist_ok=True)
    address = f"{advertised(host)}:{port}"
    tags = {"baton_models": ",".join(sorted(models)), **(labels or {})}
    entry = [{"targets": [address], "labels": tags}]
    path = target_file(folder, host, port)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".target-")
    with os.fdopen(fd, "w") as out:
        json.dump(entry, out)
    os.replace(tmp, path)
    return path


def target_file(folder: Path, host: str, port: int) -> Path:
    """Where the server on ``host:port`` lists itself (found again to remove the file of a
    server that was killed, which could not remove it itself)."""
    return folder / f"{advertised(host).strip('[]').replace(':', '_')}_{port}.json"


def unregister(path: Path) -> None:
    path.unlink(missing_ok=True)
