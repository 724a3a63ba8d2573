"""Files the pages load, all from installed packages: nothing from a CDN.

Plotly's script is served from the plotly package itself (its ``package_data``), not
copied into baton. Plotly injects its CSS through a ``<style>`` element, which a policy
without ``unsafe-inline`` refuses; the same rules are read here from the script's own
rule table and served as a stylesheet, which the pages link with the id Plotly looks for
(it then injects nothing). Swagger UI comes from the pinned ``swagger-ui-bundle-v2``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from baton.errors import Corrupt, NotFound

STATIC = Path(__file__).parent / "static"
_STRING = r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
_RULE = re.compile(rf"\s*({_STRING})\s*:\s*({_STRING})\s*(,|\}})")
_TABLE_START = '{"X,X div":'
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise Corrupt(f"the plotly package has no {path.name}: reinstall plotly")
    return path


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def plotly_rules(script: str) -> list[tuple[str, str]]:
    """Plotly's global CSS rules as (selector, declarations), read from its rule table."""
    start = script.find(_TABLE_START)
    if start < 0:
        return []
    rules = []
    pos = start + 1
    while True:
        found = _RULE.match(script, pos)
        if found is None:
            break
        selector = _unquote(found.group(1))
        selector = re.sub(r"^,", " ,", selector)
        selector = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append((selector, _unquote(found.group(2))))
        pos = found.end()
        if found.group(3) == "}":
            break
    return rules


@functools.cache
def plotly_css() -> bytes:
    rules = plotly_rules(plotly_js().read_text(encoding="utf-8"))
    return "\n".join(f"{sel}{{{decl}}}" for sel, decl in rules).encode("utf-8")


def swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def static_file(name: str) -> Path:
    """A file of ``ui/static`` by its plain name (no folders, no dot files)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name) or name not in _static_names():
        raise NotFound(f"no static file {name!r}")
    return STATIC / name


@functools.cache
def _static_names() -> frozenset[str]:
    return frozenset(p.name for p in STATIC.iterdir() if p.is_file())
