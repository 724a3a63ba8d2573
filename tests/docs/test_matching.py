"""The docs test's matcher: shown output with ``...`` against what a command printed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.docs.matching import expected_from_lines, first_difference, matches, normalize


def test_the_same_text_matches_however_the_terminal_wrapped_it() -> None:
    shown = "registered digits-classifier:1  (19.1 KiB)  aliases: @candidate"
    printed = "registered digits-classifier:1  (19.1 KiB)  aliases: \n@candidate\n"
    assert matches(shown, printed)


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        ("sha256 ...,", "sha256 177ede662afb,"),
        ("...\nlast line", "first\nsecond\nlast line"),
        ("first\n...", "first\nsecond\nthird"),
        ("a ... b", "a b"),
        ("a...b", "ab"),
    ],
)
def test_a_wildcard_stands_for_any_text_or_none(shown: str, printed: str) -> None:
    assert matches(shown, printed)


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        ("passed", "failed"),
        ("wrote 11 files to monitoring", "wrote 8 files to monitoring"),
        ("first line", "first line\nand more the page does not show"),
        ("last line", "something before\nlast line"),
        ("a ... b", "a c"),
    ],
)
def test_text_the_page_shows_must_be_printed_and_nothing_more(shown: str, printed: str) -> None:
    assert not matches(shown, printed)
    assert first_difference(shown, printed)


def test_regex_characters_in_the_shown_text_are_literal() -> None:
    assert matches("95% CI [-0.0089, +0.0133] (x)", "95% CI [-0.0089, +0.0133] (x)")
    assert not matches("a.c", "abc")


def test_a_closing_exit_line_is_the_status_not_output() -> None:
    expected = expected_from_lines(["error: no such model", "[exit 2]", ""])
    assert expected.status == 2
    assert expected.output == "error: no such model"
    assert expected_from_lines(["ok"]).status == 0
    assert not expected_from_lines(["", "  "]).shows_output


@given(st.text(alphabet=st.characters(blacklist_characters=".")))
def test_any_output_matches_itself_and_a_lone_wildcard(text: str) -> None:
    assert matches(text, text)
    assert matches("...", text)
    assert normalize(normalize(text)) == normalize(text)
