"""The exporter hub: the catalogue with search, one page per exporter, its files to take."""

from __future__ import annotations

import functools
import io
import re
import tarfile

from starlette.responses import Response

from baton.errors import BadInput
from baton.monitor import hub
from baton.ui.web import Ctx, Page


def _matches(exporter: hub.Exporter, words: list[str]) -> bool:
    e = exporter.entry
    text = " ".join(
        [e.name, e.title, e.summary, e.category.value, *(m.name for m in e.key_metrics)]
    ).lower()
    return all(w in text for w in words)


@functools.cache
def _catalogue() -> tuple[hub.Exporter, ...]:
    """The catalogue is files of the installed package: read and validated once."""
    return tuple(hub.catalogue())


@functools.cache
def _files(name: str) -> dict[str, str]:
    found = hub.load(name)
    return {
        f: found.file(f).read_text(encoding="utf-8")
        for f in (hub.SCRAPE, hub.RULES, hub.DASHBOARD, hub.GUIDE)
    }


def catalogue(ctx: Ctx) -> Page:
    search = ctx.arg("q")
    words = (search or "").lower().split()
    found = [x for x in _catalogue() if _matches(x, words)]
    return Page("exporters.html", {"title": "Exporter hub", "found": found, "q": search or ""})


def _load(ctx: Ctx) -> hub.Exporter:
    name = str(ctx.request.path_params["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_-]{1,40}", name):
        raise BadInput(f"{name[:50]!r} is not an exporter name (lower case, digits, - and _)")
    for found in _catalogue():
        if found.name == name:
            return found
    return hub.load(name)  # unknown: its NotFound names the closest entry


def exporter(ctx: Ctx) -> Page:
    found = _load(ctx)
    files = _files(found.name)
    return Page(
        "exporter.html",
        {"title": found.entry.title, "x": found, "e": found.entry, "files": files},
    )


def download(ctx: Ctx) -> Response:
    """The entry's bundle files as NAME.tar.gz, laid out as `baton exporters add` writes."""
    found = _load(ctx)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in hub.BUNDLE_FILES:
            tar.add(found.file(name), arcname=f"{hub.BUNDLE_SUBDIR}/{found.name}/{name}")
    return Response(
        buffer.getvalue(),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{found.name}.tar.gz"'},
    )
