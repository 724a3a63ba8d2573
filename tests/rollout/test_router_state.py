"""The routing table: a change keeps the pools it can, opens and retires the others."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson
import pytest

from baton.errors import BadInput, Conflict
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_state import (
    Saved,
    first_table,
    newly_routed,
    next_table,
    parse_change,
    saved_from,
    saved_of,
    starting,
    state_document,
)
from baton.rollout.weights import Weights

A, B, C = "http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"
OPTIONS = RouterOptions("digits", {"stable": A, "canary": B}, Weights(90, 0, 10))


def test_a_change_is_read_from_json_with_who_asked_and_why() -> None:
    change = parse_change(
        b'{"weights": {"stable": 0.8, "canary": 0.2}, "upstreams": {"baseline": "'
        + A.encode()
        + b'"}, "generation": 3, "by": "canary-9", "reason": "step 2"}'
    )
    assert change.weights == Weights(80, 0, 20)
    assert change.upstreams == {"baseline": A}
    assert (change.generation, change.by, change.reason) == (3, "canary-9", "step 2")
    assert (
        parse_change(b'{"weights": {"stable": 100}, "by": "' + b"x" * 900 + b'"}').by == "x" * 500
    )
    for body, message in (
        (b"[1]", 'send {"weights"'),
        (b'{"weights": [1]}', "objects keyed by variant"),
        (b'{"weights": {"stable": 100}, "upstreams": {"shadow": null}}', "unknown variant"),
        (b'{"weights": {"stable": 100}, "upstreams": {"canary": 7}}', "URL string or null"),
        (b'{"weights": {"stable": 100}, "generation": true}', "whole number"),
        (b'{"weights": {"stable": 100}, "reason": 5}', '"reason" must be a string'),
    ):
        with pytest.raises(BadInput) as caught:
            parse_change(body)
        assert message in caught.value.message, body


def test_the_next_table_keeps_opens_and_retires_pools() -> None:
    async def main() -> None:
        table = first_table(OPTIONS)
        assert table.generation == 1 and table.split.variants == ("canary", "stable")
        stable, canary = table.upstreams["stable"], table.upstreams["canary"]
        same = parse_change(b'{"weights": {"stable": 50, "canary": 50}}')
        new, opened, retired = next_table(table, same, 60)
        assert new.generation == 2 and new.upstreams["stable"] is stable
        assert (opened, retired) == ([], [])
        assert newly_routed(table, new) == []  # both had weight from the same servers
        moved = parse_change(
            b'{"weights": {"stable": 90, "baseline": 10}, "upstreams": {"canary": null, '
            b'"baseline": "' + C.encode() + b'"}}'
        )
        after, opened, retired = next_table(new, moved, 60)
        assert set(after.upstreams) == {"stable", "baseline"}
        assert opened == [after.upstreams["baseline"]] and retired == [canary]
        assert newly_routed(new, after) == ["baseline"]
        assert after.document(OPTIONS)["upstreams"] == {"stable": A, "baseline": C, "canary": None}
        with pytest.raises(Conflict, match="since generation 1"):
            next_table(after, parse_change(b'{"weights": {"stable": 100}, "generation": 1}'), 60)
        with pytest.raises(BadInput, match="canary has weight"):
            next_table(after, parse_change(b'{"weights": {"canary": 100}}'), 60)

    asyncio.run(main())


def test_a_saved_table_is_for_the_command_line_it_was_saved_under() -> None:
    async def main() -> None:
        table = first_table(OPTIONS)
        change = parse_change(
            b'{"weights": {"stable": 100}, "upstreams": {"stable": "' + B.encode() + b'"}}'
        )
        promoted, _, _ = next_table(table, change, 1.0)
        document = orjson.loads(
            orjson.dumps(state_document(OPTIONS, saved_from(promoted)))
        )  # on disk
        saved = saved_of(OPTIONS, document)
        assert saved == Saved(2, Weights(100, 0, 0), {"stable": B, "canary": B})
        again = first_table(OPTIONS, saved)  # the router started again from it
        assert (again.generation, again.weights, again.urls["stable"]) == (2, saved.weights, B)
        assert first_table(OPTIONS).generation == 1  # none: the command line's
        # another command line (a newly rendered file) starts from its own weights
        for other in (
            replace(OPTIONS, weights=Weights(80, 0, 20)),
            replace(OPTIONS, upstreams={"stable": C, "canary": B}),
            replace(OPTIONS, model="other"),
        ):
            assert saved_of(other, document) is None
        for table_ in (first_table(OPTIONS), again):
            for pool in table_.upstreams.values():
                pool.close()

    asyncio.run(main())


def test_a_document_that_is_not_a_routers_state_is_refused() -> None:
    good = state_document(OPTIONS, starting(OPTIONS, None))
    for broken, message in (
        ([1], "not a router's state"),
        ({**good, "format": 2}, "not a router's state"),
        ({**good, "generation": 0}, "generation 0"),
        ({**good, "generation": True}, "generation True"),
        ({**good, "weights": [90, 10]}, "must be objects"),
        ({**good, "weights": {"stable": 50}}, "add up to 100"),
        ({**good, "upstreams": {"shadow": A}}, "'shadow'"),
        ({**good, "upstreams": {"stable": "ftp://x:1"}}, "http://HOST:PORT"),
        ({**good, "upstreams": {"stable": A}}, "canary has weight above 0 but no server"),
    ):
        with pytest.raises(BadInput) as caught:
            saved_of(OPTIONS, broken)
        assert message in caught.value.message, broken
