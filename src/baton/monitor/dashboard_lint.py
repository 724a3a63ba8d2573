"""A Grafana dashboard linter for the conventions file provisioning needs.

The reference linter (grafana/dashboard-linter) is a Go binary; these are the few rules
that break provisioned dashboards or mislead on-call engineers, checked in Python:
a pinned schema, a stable uid, one datasource variable every query uses, modern panel
types, a unit on every panel, counters only inside ``rate``/``irate``/``increase`` over
``$__rate_interval``, and, when given, only metric names the exporter really exposes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

SCHEMA_VERSION = 39
PANEL_TYPES = frozenset({"timeseries", "stat", "gauge", "table", "row", "text"})
DATASOURCE = "${datasource}"
_UID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
_IDENT = re.compile(r"(?<![A-Za-z0-9_:.$])([A-Za-z_:][A-Za-z0-9_:]*)")
_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "atan2",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "inf",
        "nan",
    ]
)
_COUNTER = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*_(?:total|bucket))\b(\{[^{}]*\})?(\s*\[)?")
# Counting or grouping a counter's series (how many CPUs) reads no counter value.
_SERIES_COUNT = re.compile(r"\b(count|group|absent)\s*\($")
_RANGE_FUNC = re.compile(r"\b(rate|irate|increase)\s*\(")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels, keywords removed)."""
    text = _STRINGS.sub(" ", expr)
    text = _VARIABLES.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function or an aggregation: sum(...), rate(...)
        if match.group(1).lower() in _KEYWORDS:
            continue
        names.add(match.group(1))
    return names


def counter_problems(expr: str) -> list[str]:
    """Counters read raw (a line that only ever grows) or over a fixed range."""
    problems = []
    text = _STRINGS.sub('""', expr)
    for match in _COUNTER.finditer(text):
        prefix = _GROUPING.sub(" ", text[: match.start()]).rstrip()
        if not match.group(3) and not _SERIES_COUNT.search(prefix):
            problems.append(f"counter {match.group(1)} outside rate/irate/increase")
    for match in _RANGE_FUNC.finditer(text):
        after = _MATCHERS.sub("", text[match.end() :])
        if "[" in after:
            window = after.split("[", 1)[1].split("]", 1)[0].strip()
            if window != "$__rate_interval" and ":" not in window:
                problems.append(f"{match.group(1)} over [{window}], use [$__rate_interval]")
    return sorted(set(problems))


def _obj(value: object) -> Mapping[str, object]:
    """A JSON object; an empty one for a section that is missing or not an object."""
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def panels(dashboard: Mapping[str, object]) -> Iterator[Mapping[str, object]]:
    """Every panel, including those folded inside collapsed rows."""
    for panel in map(_obj, _list(dashboard.get("panels"))):
        yield panel
        yield from map(_obj, _list(panel.get("panels")))


def lint(dashboard: Mapping[str, object], known_metrics: set[str] | None = None) -> list[str]:
    """Every convention the dashboard breaks, one line each; empty when it is clean."""
    problems: list[str] = []
    if dashboard.get("id", "missing") is not None:
        problems.append("id must be null (Grafana assigns it when provisioning)")
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not _UID.match(uid):
        problems.append(f"uid must be 8-40 characters of [A-Za-z0-9_-] (got {uid!r})")
    if dashboard.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(
            f"schemaVersion must be {SCHEMA_VERSION} (got {dashboard.get('schemaVersion')!r})"
        )
    if not dashboard.get("title"):
        problems.append("the dashboard has no title")
    if "__inputs" in dashboard or "DS_PROMETHEUS" in repr(dashboard):
        problems.append("export form (__inputs / ${DS_PROMETHEUS}) breaks file provisioning")
    problems += _lint_variables(dashboard)
    seen_ids: set[int] = set()
    for panel in panels(dashboard):
        problems += [f"panel {_label(panel)}: {p}" for p in _lint_panel(panel, known_metrics)]
        pid = panel.get("id")
        if isinstance(pid, int):
            if pid in seen_ids:
                problems.append(f"panel {_label(panel)}: id {pid} used twice")
            seen_ids.add(pid)
    if not seen_ids:
        problems.append("the dashboard has no panels")
    return problems


def _lint_variables(dashboard: Mapping[str, object]) -> list[str]:
    variables = [_obj(v) for v in _list(_obj(dashboard.get("templating")).get("list"))]
    sources = [v for v in variables if v.get("type") == "datasource"]
    if len(sources) != 1:
        return [f"needs exactly one datasource variable (has {len(sources)})"]
    var = sources[0]
    problems = []
    if var.get("name") != "datasource" or var.get("query") != "prometheus":
        problems.append("the datasource variable must be {name: datasource, query: prometheus}")
    for v in variables:
        if v.get("type") == "query" and _obj(v.get("datasource")).get("uid") != DATASOURCE:
            problems.append(f"variable {v.get('name')!r}: datasource uid must be {DATASOURCE}")
    return problems


def _lint_panel(panel: Mapping[str, object], known: set[str] | None) -> list[str]:
    kind = panel.get("type")
    problems = []
    if kind not in PANEL_TYPES:
        problems.append(f"type {kind!r} is not one of {', '.join(sorted(PANEL_TYPES))}")
    if not panel.get("title"):
        problems.append("has no title")
    if "gridPos" not in panel:
        problems.append("has no gridPos")
    if kind in ("row", "text"):
        return problems
    if _obj(panel.get("datasource")).get("uid") != DATASOURCE:
        problems.append(f"datasource uid must be {DATASOURCE}")
    if not _obj(_obj(panel.get("fieldConfig")).get("defaults")).get("unit"):
        problems.append("has no unit (fieldConfig.defaults.unit)")
    targets = [_obj(t) for t in _list(panel.get("targets"))]
    if not targets:
        problems.append("has no query")
    for target in targets:
        if _obj(target.get("datasource")).get("uid") != DATASOURCE:
            problems.append(f"query {target.get('refId')}: datasource uid must be {DATASOURCE}")
        expr = str(target.get("expr") or "")
        if not expr.strip():
            problems.append(f"query {target.get('refId')}: empty expression")
            continue
        problems += counter_problems(expr)
        if known is not None:
            unknown = sorted(metric_names(expr) - known)
            if unknown:
                problems.append(f"reads metrics the exporter does not expose: {unknown}")
    return problems


def _label(panel: Mapping[str, object]) -> str:
    return repr(panel.get("title") or panel.get("id") or "?")
