from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.chain import (
    EMPTY,
    GENESIS,
    Content,
    Entry,
    Head,
    Tamper,
    canonical,
    genuine,
    key_id,
    parse_head,
    seal,
    verify,
)
from baton.errors import BadInput

KEY = b"k" * 32
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
contents = st.builds(
    Content,
    at=st.datetimes(timezones=st.just(UTC)),
    actor=st.text(),
    action=st.text(),
    model=st.none() | st.text(),
    version=st.none() | st.integers(),
    reason=st.none() | st.text(),
    detail=st.dictionaries(st.text(), json_values, max_size=4),
)


@given(st.integers(min_value=1), st.text(), contents)
def test_canonical_decodes_back_to_exactly_its_fields(seq: int, prev: str, c: Content) -> None:
    """Decodable means injective: two different entries never share the bytes a seal covers."""
    data = canonical(seq, prev, c)
    assert data.isascii()
    fields = json.loads(data.split(b"\n", 1)[1])
    at = datetime.fromisoformat(fields[2])
    assert fields == [
        seq,
        prev,
        fields[2],
        c.actor,
        c.action,
        c.model,
        c.version,
        c.reason,
        c.detail,
    ]
    assert at == c.at


@given(contents, contents)
def test_different_contents_get_different_seals(a: Content, b: Content) -> None:
    if canonical(1, GENESIS, a) != canonical(1, GENESIS, b):
        assert seal(KEY, 1, GENESIS, a) != seal(KEY, 1, GENESIS, b)


def test_the_seal_depends_on_the_key_the_position_and_the_predecessor() -> None:
    c = Content(T0, "ana", "alias.set", "toy", 1, "why", {"alias": "production"})
    base = seal(KEY, 1, GENESIS, c)
    assert seal(b"x" * 32, 1, GENESIS, c) != base
    assert seal(KEY, 2, GENESIS, c) != base
    assert seal(KEY, 1, "1" * 64, c) != base
    assert key_id(KEY) != key_id(b"x" * 32) and len(key_id(KEY)) == 16


@given(st.integers(min_value=0, max_value=10**18 - 1), st.binary(min_size=32, max_size=32))
def test_heads_print_and_parse_back(seq: int, digest: bytes) -> None:
    head = Head(seq, digest.hex())
    assert parse_head(str(head)) == head
    assert parse_head(f" {str(head).upper()}\n") == head


@pytest.mark.parametrize("text", ["", "12", "x:" + "0" * 64, "3:" + "0" * 63, "3:" + "g" * 64])
def test_a_malformed_head_is_one_clear_error(text: str) -> None:
    with pytest.raises(BadInput, match="is not SEQ:HASH"):
        parse_head(text)


def chain(n: int, key: bytes = KEY) -> list[Entry]:
    out: list[Entry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        c = Content(T0 + timedelta(minutes=i), f"user{i}", "test.entry", None, None, None, {"i": i})
        out.append(Entry(i, i, prev, seal(key, i, prev, c), c))
        prev = out[-1].hash or ""
    return out


def head_of(entries: list[Entry]) -> Head:
    last = entries[-1]
    assert last.seq is not None and last.hash is not None
    return Head(last.seq, last.hash)


def test_an_untouched_chain_is_intact_and_reports_its_head() -> None:
    log = chain(5)
    verdict = verify(log, KEY, recorded=head_of(log), kept=Head(3, log[2].hash or ""))
    assert verdict.intact and verdict.entries == 5 and verdict.head == head_of(log)
    assert verify([], KEY, recorded=EMPTY, kept=EMPTY).intact


def test_a_rewritten_entry_is_named() -> None:
    log = chain(5)
    log[2] = replace(log[2], content=replace(log[2].content, reason="nothing to see"))
    finding = verify(log, KEY, recorded=head_of(log)).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.REWRITTEN, 3)
    assert "entry #3 was rewritten" in finding.message


def test_a_forged_backdated_entry_is_named_as_inserted() -> None:
    log = chain(4)
    recorded = head_of(log)
    early = replace(log[0].content, actor="root", action="alias.set")
    forged = Entry(5, 5, log[-1].hash, "f" * 64, early)
    finding = verify([*log, forged], KEY, recorded=recorded).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.INSERTED, 5)
    # the same forgery followed by honest entries (which chain from the recorded head)
    honest = chain(6)[4:]
    after = [*log, replace(forged, id=5), *(replace(e, id=e.id + 1) for e in honest)]
    after.sort(key=lambda e: (e.seq, e.id))
    finding = verify(after, KEY).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.INSERTED, 5)


def test_a_replayed_copy_of_a_genuine_entry_is_inserted() -> None:
    log = chain(4)
    copy = replace(log[1], id=9)
    ordered = sorted([*log, copy], key=lambda e: (e.seq, e.id))
    finding = verify(ordered, KEY).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.INSERTED, 9)


@pytest.mark.parametrize("gone", [0, 2])
def test_a_deleted_entry_is_named_by_the_one_after_it(gone: int) -> None:
    log = chain(5)
    del log[gone]
    finding = verify(log, KEY).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.DELETED, gone + 2)
    assert "1 entry deleted before entry" in finding.message


def test_swapped_entries_are_reordered() -> None:
    log = chain(5)
    log[1], log[2] = replace(log[1], id=3), replace(log[2], id=2)
    finding = verify(log, KEY).finding
    assert finding is not None and (finding.kind, finding.entry) == (Tamper.REORDERED, 2)


def test_truncation_shows_against_a_recorded_or_kept_head() -> None:
    log = chain(5)
    head = head_of(log)
    assert verify(log[:3], KEY).intact  # nothing to compare with: truncation is invisible
    for verdict in (verify(log[:3], KEY, recorded=head), verify(log[:3], KEY, kept=head)):
        assert verdict.finding is not None and verdict.finding.kind == Tamper.TRUNCATED
        assert "2 entries deleted from the end" in verdict.finding.message
    emptied = verify([], KEY, kept=head).finding
    assert emptied is not None and emptied.kind == Tamper.TRUNCATED


def test_a_head_from_another_chain_does_not_match() -> None:
    log, other = chain(5), chain(5, key=b"y" * 32)
    finding = verify(log, KEY, kept=head_of(other)).finding
    assert finding is not None and finding.kind == Tamper.REWRITTEN and finding.entry == 5
    assert verify(log, KEY, kept=Head(0, "1" * 64)).finding is not None


def test_a_head_row_set_back_is_reported() -> None:
    log = chain(5)
    finding = verify(log, KEY, recorded=Head(3, log[2].hash or "")).finding
    assert finding is not None and "is behind the log" in finding.message


def test_the_wrong_key_finds_nothing_genuine() -> None:
    log = chain(2)
    assert not genuine(b"z" * 32, log[0]) and genuine(KEY, log[0])
    assert not genuine(KEY, replace(log[0], seq=None))
