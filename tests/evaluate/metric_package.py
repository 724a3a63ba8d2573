"""A team's metric package, built and installed for real (pip, setuptools, a pyproject with a
``baton.metrics`` entry point) into a folder that a subprocess or ``sys.path`` picks up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TEAM_METRICS = '''
"""Metrics of team X."""
import numpy as np


def hit_rate_at_2(outputs, targets):
    """Truth among the two top classes."""
    top2 = np.argsort(outputs, axis=1)[:, -2:]
    return float((top2 == np.asarray(targets)[:, None]).any(axis=1).mean())


hit_rate_at_2.higher_is_better = True
hit_rate_at_2.task = "classification"


def worst_class_recall(outputs, targets):
    """Recall of the hardest class (direction left to the policy)."""
    pred = outputs.argmax(axis=1)
    return float(min((pred[targets == c] == c).mean() for c in np.unique(targets)))


worst_class_recall.task = "classification"
'''

BROKEN_METRICS = """
import numpy as np

def accuracy(outputs, targets):
    return 1.0

def sideways(outputs, targets):
    return 0.5

sideways.higher_is_better = "up"

def fails(outputs, targets):
    raise ZeroDivisionError("no rows of class 7")

fails.higher_is_better = True

NOT_A_FUNCTION = 3
"""

TEAM_ENTRIES = {
    "hit_rate_at_2": "teamx_metrics:hit_rate_at_2",
    "worst_class_recall": "teamx_metrics:worst_class_recall",
}
BROKEN_ENTRIES = {
    "accuracy": "broken_metrics:accuracy",
    "sideways": "broken_metrics:sideways",
    "fails": "broken_metrics:fails",
    "constant": "broken_metrics:NOT_A_FUNCTION",
    "missing": "broken_metrics:nowhere",
}


def install(site: Path, dist: str, module: str, source: str, entries: dict[str, str]) -> Path:
    """Build ``dist`` 1.2.0 (one module) from a pyproject and pip-install it into ``site``."""
    project = site.parent / f"{dist}-src"
    project.mkdir(parents=True)
    lines = "\n".join(f'{name} = "{target}"' for name, target in entries.items())
    (project / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "1.2.0"
            dependencies = ["numpy"]

            [tool.setuptools]
            py-modules = ["{module}"]

            [project.entry-points."baton.metrics"]
            """)
        + lines
        + "\n"
    )
    (project / f"{module}.py").write_text(source)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
         "--no-build-isolation", "--target", str(site), str(project)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return site


def with_site(env: dict[str, str], *sites: Path) -> dict[str, str]:
    """``env`` whose Python also imports from ``sites`` (as an installed package would)."""
    path = os.pathsep.join([*(str(s) for s in sites), env.get("PYTHONPATH", "")])
    return {**env, "PYTHONPATH": path}
