"""The layering DESIGN.md draws, read from the source: every import, lazy ones included."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "baton"


def imports_of(path: Path) -> set[str]:
    return imports_in(path.read_text(), ["baton", *path.relative_to(SRC).parent.parts])


def imports_in(source: str, package: list[str]) -> set[str]:
    """Every module the source imports, anywhere in it, as a dotted absolute name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def offending(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for path in sorted((SRC / package).rglob("*.py")):
        bad = sorted(m for m in imports_of(path) if m.startswith(forbidden))
        if bad:
            out[str(path.relative_to(SRC))] = bad
    return out


def test_the_walker_sees_lazy_and_relative_imports() -> None:
    source = (
        "import baton.core.drift\n"
        "from ..serve import metrics\n"
        "def f():\n    from baton.serve.app import create_app\n"
    )
    found = imports_in(source, ["baton", "monitor"])
    assert {"baton.core.drift", "baton.serve.metrics", "baton.serve.app"} <= found


def test_monitoring_and_the_audit_import_nothing_from_the_server() -> None:
    """They read the metric contract from core/metric_names.py, never from serve/."""
    assert offending("monitor", ("baton.serve",)) == {}
    assert offending("audit", ("baton.serve",)) == {}


def test_the_core_imports_only_the_core_and_errors() -> None:
    allowed = ("baton.core", "baton.errors")
    found = {
        str(path.relative_to(SRC)): sorted(
            m for m in imports_of(path) if m.startswith("baton") and not m.startswith(allowed)
        )
        for path in (SRC / "core").rglob("*.py")
    }
    assert {k: v for k, v in found.items() if v} == {}
    assert offending("core", ("prometheus_client", "onnxruntime", "sqlalchemy", "httpx")) == {}


def test_the_dashboard_is_an_edge_and_imports_no_other_edge() -> None:
    """Only the API (which mounts it) and the CLI (lazily) import ui/; ui/ imports neither."""
    for package in ("core", "store", "evaluate", "serve", "monitor", "audit", "deploy"):
        assert offending(package, ("baton.ui",)) == {}, package
    assert offending("ui", ("baton.cli", "baton.api")) == {}
