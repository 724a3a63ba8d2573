"""``requirements.lock``: baton's wheel and every runtime dependency, pinned ``==`` to the
version this baton runs with, each with the sha256 of the files pip may install.

The versions are the installed closure of baton's own requirements (extras left out).
Installed distributions do not keep the digest of the file they came from, so the hashes
are asked of the package index pip is configured with, through pip itself: a dry-run
install of the pinned closure for the image's Python on Linux, once per architecture the
base image is built for (amd64, arm64), reports the file pip would download for each pin
and its sha256 (the index's published digest, or pip's own hash of the file). baton's
wheel is hashed where it lies in the build context. The image then installs with
``pip install --require-hashes``: a file whose bytes differ from the lock fails the build.

The index must be reachable when the image target is rendered (the other targets need
nothing from it); the answer is kept for the process, so a second render asks again only
if the installed versions changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from baton.errors import BadInput, Unavailable
from baton.store.artifacts import file_sha256

DIST = "modelbaton"
ARCHES = ("x86_64", "aarch64")  # linux/amd64 and linux/arm64: the slim base image's
GLIBC_MINOR = 36  # python:3.11-slim is Debian 12 (glibc 2.36): manylinux_2_36 and older
INDEX_S = 600.0
Pins = tuple[tuple[str, str], ...]


def pins() -> Pins:
    """(canonical name, installed version) of every runtime dependency of baton, sorted."""
    env: dict[str, str] = dict(default_environment())  # type: ignore[arg-type]
    seen: dict[str, str] = {}
    todo = [Requirement(r) for r in metadata.requires(DIST) or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise Unavailable(f"{req.name} (a dependency of baton) is not installed") from None
        seen[key] = dist.version
        extras = set(req.extras)
        for sub in dist.requires or []:
            inner = Requirement(sub)
            wanted = inner.marker is None or any(
                inner.marker.evaluate({**env, "extra": e}) for e in ({""} | extras)
            )
            if wanted:
                inner.marker = None
                todo.append(inner)
    return tuple(sorted(seen.items()))


def lock(wheel: Path, python: str) -> str:
    """The lock for an image on ``python`` (``3.11``) installing ``wheel`` (baton's)."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename as exc:
        raise BadInput(f"--wheel {wheel.name}: not a wheel file name ({exc})") from None
    if name != DIST:
        raise BadInput(f"--wheel {wheel.name}: a {name} wheel; the image installs {DIST}")
    pinned = pins()
    hashes = index_hashes(pinned, python)
    entries = [_entry(DIST, str(version), (file_sha256(wheel),))]
    entries += [_entry(n, v, hashes[n]) for n, v in pinned]
    head = (
        "# baton and its runtime dependencies, pinned to the versions it was rendered with,\n"
        f"# with the sha256 of each file pip may install (CPython {python}, Linux "
        f"{' and '.join(ARCHES)}): pip install --require-hashes -r requirements.lock\n"
    )
    return head + "".join(entries)


def _entry(name: str, version: str, digests: tuple[str, ...]) -> str:
    hashes = "".join(f" \\\n    --hash=sha256:{d}" for d in digests)
    return f"{name}=={version}{hashes}\n"


@cache
def index_hashes(pinned: Pins, python: str) -> dict[str, tuple[str, ...]]:
    """Per name, the sha256 of each file pip would install for it (one per architecture,
    the same file for a pure-Python wheel), sorted."""
    found: dict[str, set[str]] = {name: set() for name, _ in pinned}
    with tempfile.TemporaryDirectory(prefix="baton-lock-") as tmp:
        requirements = Path(tmp) / "pins.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in pinned), encoding="utf-8")
        runs = [(arch, _start(requirements, Path(tmp) / f"{arch}.json", arch, python))
                for arch in ARCHES]  # fmt: skip
        for arch, (proc, report) in runs:
            _, err = proc.communicate(timeout=INDEX_S)
            if proc.returncode != 0:
                raise Unavailable(
                    "requirements.lock takes each file's sha256 from the package index, and "
                    f"pip could not resolve the lock there for Linux {arch}: {_last(err)}; "
                    "render the image target where the index pip is configured with answers"
                )
            for name, digest in report_hashes(report, dict(pinned)):
                found[name].add(digest)
    missing = sorted(name for name, digests in found.items() if not digests)
    if missing:
        raise Unavailable(f"the package index gave no sha256 for {', '.join(missing)}")
    return {name: tuple(sorted(digests)) for name, digests in found.items()}


def _start(
    requirements: Path, report: Path, arch: str, python: str
) -> tuple[subprocess.Popen[str], Path]:
    """pip's dry run for one architecture: what it would download, and each file's hash."""
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{arch}")  # pip adds manylinux2010 and manylinux1
    argv = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
        "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
        "--abi", f"cp{python.replace('.', '')}", *(f"--platform={p}" for p in platforms),
        "--quiet", "--report", str(report), "-r", str(requirements),
    ]  # fmt: skip
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    return proc, report


def report_hashes(path: Path, pinned: dict[str, str]) -> list[tuple[str, str]]:
    """(name, sha256) of each file in pip's installation report, checked against the pins."""
    data: object = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("install") if isinstance(data, dict) else None
    out: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else []:
        meta = item.get("metadata") if isinstance(item, dict) else None
        info = item.get("download_info") if isinstance(item, dict) else None
        archive = info.get("archive_info") if isinstance(info, dict) else None
        digest = _sha256(archive)
        if not isinstance(meta, dict) or digest is None:
            raise Unavailable(f"pip's installation report {path.name} has an entry without sha256")
        name = canonicalize_name(str(meta.get("name")))
        if not _same(pinned.get(name), meta.get("version")):
            raise Unavailable(f"pip's report names {name} {meta.get('version')}, not the pin")
        out.append((name, digest))
    return out


def _sha256(archive: object) -> str | None:
    """``archive_info``'s sha256: ``hashes.sha256`` (pip 23+), else ``hash: sha256=...``."""
    if not isinstance(archive, dict):
        return None
    hashes = archive.get("hashes")
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return str(hashes["sha256"])
    algorithm, _, digest = str(archive.get("hash", "")).partition("=")
    return digest if algorithm == "sha256" and digest else None


def _same(pin: str | None, reported: object) -> bool:
    try:
        return pin is not None and Version(pin) == Version(str(reported))
    except InvalidVersion:
        return False


def _last(stderr: str) -> str:
    """pip's last line that is not a warning (a file: index it skips, say)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not ln.startswith("WARNING")] or lines or ["no output"]
    return errors[-1][:300]
