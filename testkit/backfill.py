"""Load OpenMetrics files into a Prometheus TSDB with ``promtool``, as upstream documents.

``promtool tsdb create-blocks-from openmetrics FILE DIR`` writes blocks that a Prometheus
started with ``--storage.tsdb.path=DIR`` serves; start it with a time retention longer than
the data's age, or it deletes the old blocks at once. A failure is one line naming the file
and promtool's last words.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_tsdb(
    tsdb_dir: Path,
    workdir: Path,
    *,
    port: int | None = None,
    retention: str = "3650d",
    ready_s: float = 120.0,
    query_timeout: str = "2m",
    extra_args: Sequence[str] = (),
) -> tuple[subprocess.Popen[bytes], str]:
    """A real Prometheus serving ``tsdb_dir`` on 127.0.0.1, scraping nothing; its URL.

    The default retention, ten years, keeps a backfill of any age; the caller stops it.
    ``query_timeout`` is Prometheus' own limit on one query's evaluation (its default, 2m,
    unless a benchmark on a loaded machine needs longer); ``extra_args``, further flags
    (``--query.max-samples=N``, say).
    Its log is ``workdir/prometheus.log``; a failure to start is one line quoting it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n", encoding="utf-8")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(locate("prometheus")), f"--config.file={config}",
             f"--storage.tsdb.path={tsdb_dir}", f"--storage.tsdb.retention.time={retention}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
             f"--query.timeout={query_timeout}", *extra_args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise Unavailable(f"Prometheus did not start on {url}: {last[0]} (log: {log})")
