"""``baton drift NAME``: ask the running servers how far their traffic has drifted.

Servers are found the way Prometheus finds them, through the file-discovery targets that
``baton serve`` keeps, or named with ``--url``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import httpx

from baton.errors import NotFound, Unavailable

if TYPE_CHECKING:  # core.drift needs numpy; its Status is only a type here
    from baton.core.drift import Status


class DriftScoreJSON(TypedDict):
    """One feature's ``core.drift.DriftScore`` as a server's ``/drift`` sends it."""

    feature: str
    score: float | None  # None: too little traffic yet
    samples: int
    status: Status


@dataclass(frozen=True)
class ServerDrift:
    server: str
    version: str
    reference: bool
    features: list[DriftScoreJSON]  # the most drifted first


def servers_for(targets_dir: Path, model: str) -> list[str]:
    """URLs of the local servers that list ``model`` among those they serve."""
    urls = []
    for path in sorted(targets_dir.glob("*.json")):
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a server is writing or removing its file right now
        for entry in entries:
            models = entry.get("labels", {}).get("baton_models", "").split(",")
            if any(m.split("@")[0].split(":")[0] == model for m in models):
                urls += [f"http://{t}" for t in entry.get("targets", [])]
    return urls


def query(model: str, urls: Sequence[str]) -> list[ServerDrift]:
    if not urls:
        raise NotFound(
            f"no running baton server serves {model}: start one with `baton serve {model}`, "
            "or name it with --url"
        )
    out = []
    for url in urls:
        try:
            response = httpx.get(f"{url.rstrip('/')}/v2/models/{model}/drift", timeout=10)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the server at {url} ({exc})") from None
        if response.status_code == 404:
            raise NotFound(f"{url}: {response.json().get('error', 'not served')}")
        response.raise_for_status()
        body = response.json()
        features = sorted(body["features"], key=lambda f: -(f["score"] or -1))
        out.append(ServerDrift(url, body["version"], body["reference"], features))
    return out
