"""What the image installs: baton's wheel, built reproducibly from this checkout (the
lock of its dependencies is ``deploy/lock.py``'s).

The wheel is built with ``SOURCE_DATE_EPOCH`` set to the commit's time, so the same
commit gives the same bytes (zip entry times come from it, entries are sorted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from baton.errors import BadInput, Unavailable

DIST = "modelbaton"
IGNORED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache",
           "node_modules", "tests", "docs", "bench", "site")  # fmt: skip


def checkout() -> Path | None:
    """The source checkout this baton runs from (``pyproject.toml`` beside ``src/``), if any."""
    root = Path(__file__).resolve().parents[3]
    return (
        root if (root / "pyproject.toml").is_file() and (root / "src" / "baton").is_dir() else None
    )


def revision(root: Path | None) -> tuple[str, int | None]:
    """The commit hash and its time (seconds), or ('', None) outside a git checkout."""
    if root is None or not (root / ".git").exists():
        return "", None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H %ct"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "", None
    return (out[0], int(out[1])) if len(out) == 2 else ("", None)


def build_wheel(dest: Path) -> Path:
    """Build baton's wheel from the checkout into ``dest`` (reproducible for one commit)."""
    root = checkout()
    if root is None:
        raise BadInput(
            "the image target builds baton's wheel from a source checkout, and this baton "
            "is installed from a package: pass the wheel with --wheel FILE"
        )
    _, epoch = revision(root)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch or 315532800)}  # 1980: zip's floor
    with tempfile.TemporaryDirectory(prefix="baton-wheel-") as tmp:
        source = Path(tmp) / "src"  # a clean copy: no build/ or egg-info left in the checkout
        shutil.copytree(root, source, ignore=shutil.ignore_patterns(*IGNORED))
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-cache-dir", "-q", "-w", str(Path(tmp) / "out"), str(source)],
                capture_output=True, text=True, check=True, env=env, timeout=600,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:]
            raise Unavailable(f"building baton's wheel failed: {' '.join(tail)}") from None
        built = sorted((Path(tmp) / "out").glob(f"{DIST}-*.whl"))
        if not built:
            raise Unavailable("building baton's wheel produced no wheel")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / built[0].name
        shutil.copyfile(built[0], target)
        return target
