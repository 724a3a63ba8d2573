from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.refs import Ref, against_ref, check_name, parse_alias_target, parse_ref
from baton.errors import BadInput

names = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
aliases = st.from_regex(r"\A[a-z][a-z0-9_-]{0,10}\Z")


@given(names, st.integers(1, 10**6))
def test_version_refs_round_trip(name: str, version: int) -> None:
    assert parse_ref(str(Ref(name, version=version))) == Ref(name, version=version)


@given(names, aliases)
def test_alias_refs_round_trip(name: str, alias: str) -> None:
    assert parse_ref(str(Ref(name, alias=alias))) == Ref(name, alias=alias)


def test_bare_name() -> None:
    assert parse_ref("digits") == Ref("digits")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("digits:0", "whole number from 1"),
        ("digits:two", "whole number from 1"),
        # what PostgreSQL refused with a 500 (schemathesis): an integer beyond its range,
        # digits that are not ASCII, control characters and a name ending in a newline
        ("digits:99999999999", "whole number from 1"),
        ("digits:\u0663", "whole number from 1"),
        ("digits:\u00b2", "whole number from 1"),
        ("dig\x00its", "not valid"),
        ("digits\n:1", "not valid"),
        ("digits\n@production", "not valid"),
        ("digits:1@prod", "both a version and an alias"),
        ("Digits", "not valid"),
        ("digits@Prod", "alias 'Prod' is not valid"),
        ("", "not valid"),
    ],
)
def test_bad_refs_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_ref(text)


def test_alias_target_needs_an_alias() -> None:
    assert parse_alias_target("digits@production") == ("digits", "production")
    with pytest.raises(BadInput, match="write NAME@ALIAS"):
        parse_alias_target("digits")


def test_check_name_names_the_thing() -> None:
    with pytest.raises(BadInput, match="team name"):
        check_name("Research Team", "team name")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("production", Ref("digits", alias="production")),
        (" 3 ", Ref("digits", 3)),
        ("other@staging", Ref("other", alias="staging")),
        ("digits:2", Ref("digits", 2)),
    ],
)
def test_against_reads_a_baseline_as_people_type_it(text: str, expected: Ref) -> None:
    assert against_ref("digits", text) == expected


def test_against_the_bare_model_name_asks_for_a_version() -> None:
    with pytest.raises(BadInput, match="name a version or alias, e.g. digits@production"):
        against_ref("digits", "digits")
