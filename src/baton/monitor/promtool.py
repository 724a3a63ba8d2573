"""Run Prometheus' own checkers (promtool, amtool) and keep what they said.

baton never re-implements PromQL or Alertmanager parsing: a rule file, a rule test, a
Prometheus or Alertmanager configuration and a metrics exposition are each proved by the
tool the server itself uses. A missing tool is one line naming the Debian package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from baton.errors import Unavailable

# tool -> (executable names to try, Debian package that ships it)
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "promtool": (("promtool",), "prometheus"),
    "prometheus": (("prometheus",), "prometheus"),
    "amtool": (("amtool",), "prometheus-alertmanager"),
    "alertmanager": (("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
    "node_exporter": (
        ("prometheus-node-exporter", "node_exporter"),
        "prometheus-node-exporter",
    ),
}
TIMEOUT_S = 120.0
# promtool's exit status when an exposition parses but breaks naming conventions; upstream
# exporters do (node_memory_MemAvailable_bytes is camelCase, DCGM_FI_* is upper case).
LINT_EXIT = 3


@dataclass(frozen=True)
class CheckResult:
    """One run of a checker: what ran, whether it passed, and the tool's own words."""

    check: str
    target: str
    passed: bool
    message: str
    returncode: int


def locate(tool: str) -> Path:
    """The executable for ``tool``, or Unavailable naming the package that ships it."""
    names, package = TOOLS[tool]
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise Unavailable(
        f"{tool} is not installed: install Debian's {package} package "
        f"(apt-get install -y {package})"
    )


def _run(
    check: str,
    target: str,
    argv: Sequence[str | Path],
    stdin: str | None = None,
    lint_ok: bool = False,
) -> CheckResult:
    try:
        proc = subprocess.run(
            [str(a) for a in argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(
            check, target, False, f"{argv[0]} did not finish in {TIMEOUT_S:.0f} s", -1
        )
    message = "\n".join(part.strip() for part in (proc.stdout, proc.stderr) if part.strip())
    passed = proc.returncode == 0 or (lint_ok and proc.returncode == LINT_EXIT)
    return CheckResult(check, target, passed, message, proc.returncode)


def check_rules(*rule_files: Path) -> CheckResult:
    """``promtool check rules``: syntax, PromQL and templates of rule files."""
    target = " ".join(str(f) for f in rule_files)
    return _run("promtool check rules", target, [locate("promtool"), "check", "rules", *rule_files])


def run_rule_tests(*test_files: Path) -> CheckResult:
    """``promtool test rules``: the unit tests that say when each alert must (not) fire."""
    target = " ".join(str(f) for f in test_files)
    return _run("promtool test rules", target, [locate("promtool"), "test", "rules", *test_files])


def check_config(config: Path) -> CheckResult:
    """``promtool check config``: a prometheus.yml and every rule file it loads."""
    return _run(
        "promtool check config", str(config), [locate("promtool"), "check", "config", config]
    )


def check_metrics(exposition: str, target: str = "<stdin>") -> CheckResult:
    """``promtool check metrics``: parse and lint a /metrics exposition.

    Passes when it parses; naming-convention findings stay in ``message`` (and
    ``returncode`` is 3), so a caller that owns the names can insist on a clean 0.
    """
    return _run(
        "promtool check metrics",
        target,
        [locate("promtool"), "check", "metrics"],
        stdin=exposition,
        lint_ok=True,
    )


def check_alertmanager_config(config: Path) -> CheckResult:
    """``amtool check-config``: an Alertmanager configuration and its templates."""
    return _run("amtool check-config", str(config), [locate("amtool"), "check-config", config])


def route_test(config: Path, labels: dict[str, str], receivers: Sequence[str]) -> CheckResult:
    """``amtool config routes test``: an alert with ``labels`` reaches exactly ``receivers``."""
    pairs = [f"{k}={v}" for k, v in labels.items()]
    return _run(
        "amtool config routes test",
        " ".join(pairs),
        [
            locate("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={','.join(receivers)}",
            *pairs,
        ],
    )
