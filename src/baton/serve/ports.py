"""Who holds a TCP port: read from ``/proc`` on Linux, so a taken port names its process.

Only used when binding failed, to turn "Address already in use" into "pid 4242 (python -m
http.server) holds it". psutil would do it everywhere, but one error line is not worth a
dependency: elsewhere, or where the holder belongs to another user, the answer says less.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

LISTEN = 0x0A  # the kernel's TCP_LISTEN, as /proc/net/tcp prints it
_NET_FILES = ("net/tcp", "net/tcp6")


@dataclass(frozen=True)
class Socket:
    """One row of /proc/net/tcp{,6}: what is needed to find its owner."""

    port: int
    state: int
    uid: int
    inode: int


def parse_net_tcp(text: str) -> list[Socket]:
    """The rows of a /proc/net/tcp or tcp6 file (header skipped, malformed rows ignored)."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue
        try:
            port = int(fields[1].rsplit(":", 1)[1], 16)
            out.append(Socket(port, int(fields[3], 16), int(fields[7]), int(fields[9])))
        except ValueError:
            continue
    return out


def holders(port: int, proc: Path = Path("/proc")) -> list[Socket]:
    """The sockets bound to ``port`` (listening ones first); [] where /proc is not there."""
    found: list[Socket] = []
    for name in _NET_FILES:
        try:
            text = (proc / name).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        found += [s for s in parse_net_tcp(text) if s.port == port and s.inode]
    return sorted(found, key=lambda s: s.state != LISTEN)


def process_of(inode: int, proc: Path = Path("/proc")) -> tuple[int, str] | None:
    """(pid, command line) of a process with the socket open; None if none is readable."""
    target = f"socket:[{inode}]"
    try:
        pids = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            fds = list((pid / "fd").iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return int(pid.name), _command(pid)
            except OSError:
                continue
    return None


def _command(pid: Path) -> str:
    try:
        raw = (pid / "cmdline").read_bytes()
    except OSError:
        return "?"
    return readable_command(raw.rstrip(b"\0").decode(errors="replace").split("\0"))


def readable_command(argv: list[str]) -> str:
    """The command as a person typed it: ``python baton serve digits`` rather than two long
    paths into a virtualenv, which filled the line and cut off the part that says what runs."""
    words = list(argv)
    if words:
        words[0] = os.path.basename(words[0]) or words[0]
    if len(words) > 1 and words[0].startswith("python") and "/" in words[1]:
        words[1] = os.path.basename(words[1]) or words[1]  # the script a console entry runs
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """``pid 4242 (python -m http.server) holds it``, or less where less can be read."""
    found = holders(port, proc)
    if not found:
        return None
    owner = process_of(found[0].inode, proc)
    if owner is not None:
        return f"pid {owner[0]} ({owner[1]}) holds it"
    try:
        user = pwd.getpwuid(found[0].uid).pw_name
    except KeyError:
        user = f"uid {found[0].uid}"
    return f"a process of user {user} holds it (not readable from here)"
