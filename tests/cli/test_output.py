"""Untrusted text is shown as text: the helpers, and the real ``baton`` printing stored values."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.table import Table
from rich.text import Text

from baton.cli.output import SafeConsole, cells, inert, print_listing, safe
from baton.config import Settings
from baton.core.promotion import Target
from baton.core.roles import RequestKind
from baton.store.store import open_store
from tests.baton_cli import baton, clean_env
from tests.ownership_factory import build_world

# clear the screen, reset the terminal, set the window title, a C1 CSI, Rich markup, an
# emoji code and a right-to-left override: each must print as the characters it is made of
EVIL = "\x1b[2J \x1bc \x1b]0;pwned\x07 \x9b31m \x85 [bold]loud[/bold] :warning: \u202eevil"
SHOWN = (
    "\\x1b[2J",
    "\\x1bc",
    "\\x1b]0;pwned\\x07",
    "\\x9b31m",
    "\\x85",
    "[bold]loud[/bold]",
    ":warning:",
    "\\u202eevil",
)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def render(*objects: object) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, width=400, highlight=False, emoji=False)
    console.print(*objects, soft_wrap=True)
    return out.getvalue()


def test_safe_shows_controls_escaped_and_markup_literal() -> None:
    assert inert("a\x1b[2Jb\tc\nd") == "a\\x1b[2Jb\\x09c\\x0ad"
    assert inert("a\tb\nc\x07", keep_layout=True) == "a\tb\nc\\x07"
    shown = render(f"[green]{safe(EVIL)}[/]")
    assert not CONTROL.search(shown)
    for fragment in SHOWN:
        assert fragment in shown
    assert "⚠" not in shown


MARKUP_ALPHABET = st.sampled_from("\\[]/ab:@#=\x1b\n")  # where markup escaping goes wrong


@settings(deadline=None)  # Rich renders each example; a loaded machine is slow
@given(st.text() | st.text(alphabet=MARKUP_ALPHABET, max_size=14))
def test_any_value_prints_as_exactly_its_escaped_self(text: str) -> None:
    """Whatever a user stored, the terminal receives its characters, never instructions."""
    # a backslash Rich would read as an escape (before "[", or last) shows as \x5c
    expected = re.sub(r"\\(?=\[|\Z)", r"\\x5c", inert(text))
    assert render(f"[bold]{safe(text)}[/] end") == f"{expected} end\n"
    assert render(f"{safe(text)}\\") == f"{expected}\\\n"
    assert render(f"({safe(text)})") == f"({expected})\n"
    assert render(f"[green]{safe(text)}[/]@{safe(text)}") == f"{expected}@{expected}\n"
    assert not CONTROL.search(render(Text(text)))  # rich text built elsewhere: controls go too


def test_tables_and_rich_text_cannot_carry_controls() -> None:
    table = Table("value")
    table.add_row(*cells(EVIL))
    table.add_row(Text(EVIL))  # built elsewhere, e.g. the right-size audit's table
    shown = render(table)
    assert not CONTROL.search(shown)
    assert shown.count("[bold]loud[/bold]") == 2


def test_a_listing_is_json_a_hint_or_a_table_of_inert_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    items = [("one", 1), (EVIL, 2)]

    def listing(found: list[tuple[str, int]], json_out: bool, empty: str | None) -> str:
        print_listing(
            found, json_out, headers=("name", "n"), row=lambda i: (i[0], i[1] * 10), empty=empty
        )
        return capsys.readouterr().out

    assert json.loads(listing(items, True, "none yet")) == [["one", 1], [EVIL, 2]]
    assert listing([], True, "none yet").strip() == "[]"
    assert listing([], False, "none yet: `make one`") == "none yet: `make one`\n"
    assert "name" in listing([], False, None)  # no hint: the empty table, headers and all
    shown = listing(items, False, "none yet")
    assert not CONTROL.search(shown)
    assert "[bold]loud[/bold]" in shown and "20" in shown and "none yet" not in shown


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, str]:
    """A store whose people wrote terminal escapes and markup into everything they could."""
    settings = Settings(home=tmp_path / "home", user="root")
    store = open_store(settings)
    world = build_world(store, tmp_path / "handovers", versions=1)
    world.gov.requests.raise_request("toy", RequestKind.SCALE, EVIL, world.people["mia"])
    world.evaluate(1)
    world.gov.promotions.promote("toy", 1, Target.STAGING, world.people["alice"], EVIL)
    store.registry.append_entry(EVIL, "test.entry", "toy", 1, reason=EVIL, detail={"note": EVIL})
    store.close()
    return clean_env(settings.home, BATON_USER="alice")


@pytest.mark.parametrize(
    "args", [("log",), ("requests",), ("log", "--model", "toy"), ("promotions",)]
)
def test_the_cli_prints_stored_text_inert(hostile: dict[str, str], args: tuple[str, ...]) -> None:
    result = baton(hostile, *args)
    assert result.returncode == 0, result.stderr
    assert not CONTROL.search(result.stdout), repr(result.stdout)
    for fragment in SHOWN:
        assert fragment in result.stdout, (fragment, result.stdout)


def test_json_output_keeps_the_exact_text(hostile: dict[str, str]) -> None:
    result = baton(hostile, "log", "--json")
    assert not CONTROL.search(result.stdout)
    entry = json.loads(result.stdout)[0]
    assert entry["reason"] == entry["actor"] == EVIL


def test_error_lines_show_markup_and_controls_inert(hostile: dict[str, str]) -> None:
    result = baton(hostile, "log", "--verify", "--head", "[bold]x[/bold]\x1b[2J")
    assert result.returncode == 2
    assert "[bold]x[/bold]" in result.stderr and "\x1b" not in result.stderr
    assert result.stderr.count("\n") == 1
