"""Decisions cross the process boundary as bytes: every one read back is the one written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.refs import Ref
from baton.errors import BatonError, Kind
from baton.serve.decision import Answer, Decision, ServeTarget

names = st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True)
refs = st.one_of(
    st.builds(Ref, names),
    st.builds(Ref, names, version=st.integers(1, 10**6)),
    st.builds(Ref, names, alias=st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
)
targets = st.builds(ServeTarget, refs, st.integers(1, 10**6), st.none() | st.integers(1, 10**9))
answers = st.builds(Answer, st.none() | st.sampled_from(list(Kind)), st.text(max_size=80))


@given(
    st.integers(0, 2**40),
    st.lists(targets, max_size=5).map(tuple),
    st.dictionaries(st.text(min_size=1, max_size=32), answers, max_size=4),
)
def test_a_decision_survives_the_round_trip(
    generation: int, chosen: tuple[ServeTarget, ...], said: dict[str, Answer]
) -> None:
    decision = Decision(generation, chosen, said)
    assert Decision.from_bytes(decision.to_bytes()) == decision


def test_a_refusal_raises_with_its_kind() -> None:
    Answer().raise_if_refused()
    with pytest.raises(BatonError, match="no such model") as caught:
        Answer(Kind.NOT_FOUND, "no such model").raise_if_refused()
    assert caught.value.kind is Kind.NOT_FOUND
