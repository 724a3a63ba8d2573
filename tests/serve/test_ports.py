"""Who holds a port: /proc/net/tcp parsed (property-tested), and the real holder named."""

from __future__ import annotations

import os
import pwd
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.serve.ports import (
    LISTEN,
    Socket,
    describe_holder,
    holders,
    parse_net_tcp,
    readable_command,
)

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
)


def row(i: int, s: Socket, v6: bool = False) -> str:
    """One line as the kernel prints it (address in hex, host byte order)."""
    address = ("0" * 24 + "0100007F") if v6 else "0100007F"
    return (
        f"{i:4d}: {address}:{s.port:04X} 00000000:0000 {s.state:02X} 00000000:00000000 "
        f"00:00000000 00000000 {s.uid:5d}        0 {s.inode} 1 0000000000000000 100 0 0 10 0\n"
    )


sockets = st.builds(
    Socket,
    port=st.integers(0, 65535),
    state=st.integers(1, 12),
    uid=st.integers(0, 2**31),
    inode=st.integers(0, 2**40),
)


# junk lines: any text without whitespace (one field, so never a row)
junk_lines = st.text(st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), max_size=40)


@given(st.lists(sockets, max_size=20), st.booleans(), st.lists(junk_lines))
def test_rows_round_trip_and_junk_is_ignored(
    found: list[Socket], v6: bool, junk: list[str]
) -> None:
    text = HEADER + "".join(row(i, s, v6) for i, s in enumerate(found))
    assert parse_net_tcp(text) == found
    assert parse_net_tcp(text + "".join(j + "\n" for j in junk)) == found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_a_listening_socket_of_this_process_is_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = describe_holder(port)
    assert text is not None
    assert text.startswith(f"pid {os.getpid()} (")
    assert text.endswith(") holds it")


def test_without_proc_there_is_nothing_to_say(tmp_path: Path) -> None:
    assert describe_holder(8000, tmp_path) is None


def test_an_unreadable_holder_is_named_by_its_user(tmp_path: Path) -> None:
    """Another user's process: its socket is listed, its descriptors are not readable."""
    (tmp_path / "net").mkdir()
    listening = Socket(8000, LISTEN, os.getuid(), 4242)
    closed = Socket(8000, 7, 0, 77)
    (tmp_path / "net" / "tcp").write_text(HEADER + row(0, closed) + row(1, listening))
    (tmp_path / "net" / "tcp6").write_text(HEADER + row(0, Socket(9000, LISTEN, 0, 1), True))
    (tmp_path / "1234").mkdir()  # a process whose fd folder cannot be read
    assert holders(8000, tmp_path) == [listening, closed]
    user = pwd.getpwuid(os.getuid()).pw_name
    assert describe_holder(8000, tmp_path) == (
        f"a process of user {user} holds it (not readable from here)"
    )


def test_a_console_script_is_named_by_its_program_not_its_paths() -> None:
    """CI's checkout path was long enough to cut the command at "baton serve digi"."""
    argv = ["/check/work/main/.venv/bin/python", "/check/work/main/.venv/bin/baton", "serve", "m"]
    assert readable_command(argv) == "python baton serve m"
    assert readable_command(["/usr/bin/nginx", "-g", "daemon off;"]) == "nginx -g daemon off;"
    assert readable_command(["python3", "-m", "http.server"]) == "python3 -m http.server"
    assert (
        readable_command(["x" * 100]).endswith("...") and len(readable_command(["x" * 100])) == 80
    )
