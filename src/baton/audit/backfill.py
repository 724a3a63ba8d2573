"""Load OpenMetrics files into a Prometheus TSDB with ``promtool``, as upstream documents.

``promtool tsdb create-blocks-from openmetrics FILE DIR`` writes blocks that a Prometheus
started with ``--storage.tsdb.path=DIR`` serves; start it with a time retention longer than
the data's age, or it deletes the old blocks at once. A failure is one line naming the file
and promtool's last words.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from baton.errors import BadInput, Unavailable
from baton.monitor.promtool import locate

TIMEOUT_S = 600.0


def backfill(
    openmetrics_files: Iterable[Path],
    tsdb_dir: Path,
    promtool: Path | None = None,
    *,
    delete: bool = False,
) -> int:
    """Turn each file into TSDB blocks under ``tsdb_dir``; the number of files loaded.

    With ``delete`` each file is removed once loaded, so a generator streaming files keeps
    only one on disk.
    """
    tool = promtool or locate("promtool")
    tsdb_dir.mkdir(parents=True, exist_ok=True)
    loaded = 0
    for path in openmetrics_files:
        argv = [str(tool), "tsdb", "create-blocks-from", "openmetrics", "-q", str(path)]
        try:
            proc = subprocess.run(
                [*argv, str(tsdb_dir)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError:
            raise Unavailable(
                f"promtool at {tool} cannot be run: reinstall Debian's prometheus"
            ) from None
        except subprocess.TimeoutExpired:
            raise Unavailable(
                f"promtool did not load {path} within {TIMEOUT_S:.0f} s: "
                "split it into smaller files"
            ) from None
        if proc.returncode != 0:
            said = [
                line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()
            ]
            last = said[-1] if said else f"exit status {proc.returncode}"
            raise BadInput(f"promtool could not load {path}: {last}")
        loaded += 1
        if delete:
            path.unlink()
    return loaded
