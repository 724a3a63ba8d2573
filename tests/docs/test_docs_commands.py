"""Every command the README and the docs site show runs, in page order, and still prints
what the page shows (``tests/docs/markdown_blocks.py`` says how a page marks its blocks).

Each page runs in an empty folder of its own, as a reader starting there would: the
default store (``./.baton``), no ``BATON_*`` settings from outside, ``baton`` and
``python`` from this environment first on the PATH, and a terminal 100 columns wide. The
example hand-over is put where ``baton quickstart`` looks for it, so pages that start with
the quickstart skip its training (it says "using the example hand-over" then). The folder
has a link to the checkout's ``examples/``, as the pages are read from the checkout.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from tests.docs.markdown_blocks import Block, Command, Page, read_page
from tests.docs.matching import first_difference, matches
from tests.docs.pages import ROOT, page_paths
from tests.docs.session import Ran, Session

WIDTH = "100"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reader_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    # one width and one locale (sort order, UTF-8 tables) whatever machine runs the test
    env.update(COLUMNS=WIDTH, NO_COLOR="1", PYTHONUNBUFFERED="1", LC_ALL="C.UTF-8")
    env.pop("TERM", None)
    return env


@pytest.fixture
def reader_folder(tmp_path: Path, digits_source: Path) -> Path:
    folder = tmp_path / "reader"
    shutil.copytree(digits_source, folder / ".baton" / "examples" / "digits-classifier")
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


def _failure(page: Page, command: Command, shown: str, ran: Ran, why: str) -> str:
    where = page.path.relative_to(ROOT)
    return (
        f"{where}:{command.line}: $ {command.text}\n{why}\n"
        f"--- the page shows (exit {command.expected.status}):\n{shown}\n"
        f"--- the command printed (exit {ran.status}):\n{ran.output[-6000:]}"
    )


def _check(page: Page, command: Command, session: Session, ran: Ran, running: bool) -> None:
    shown = session.localize(command.expected.output)
    if running and ran.status != -1:
        pytest.fail(_failure(page, command, shown, ran, "the server stopped (or never started)"))
    if not running and ran.status != command.expected.status:
        pytest.fail(_failure(page, command, shown, ran, "the exit status differs"))
    if command.expected.shows_output and not matches(shown, ran.output):
        why = first_difference(shown, ran.output)
        pytest.fail(_failure(page, command, shown, ran, f"the output differs: {why}"))


def _run_block(page: Page, block: Block, session: Session) -> None:
    if block.kind == "file":
        assert block.path is not None
        target = session.cwd / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(session.localize(block.content), encoding="utf-8")
    for command in block.commands if block.kind in ("run", "background") else ():
        text = session.localize(command.text)
        if block.kind == "background":
            ran = session.start(text, session.localize(command.expected.output))
        else:
            ran = session.run(text)
        _check(page, command, session, ran, running=block.kind == "background")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", page_paths(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_commands_print_what_the_page_shows(path: Path, reader_folder: Path) -> None:
    page = read_page(path)  # fails on a shell block that is neither run nor says why not
    session = Session(reader_folder, _reader_env(), {port: _free_port() for port in page.ports})
    try:
        for block in page.blocks:
            _run_block(page, block, session)
    finally:
        session.close(page.cleanup)
