"""``baton history`` as a user runs it, on SQLite and PostgreSQL, over a real past."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from baton.config import Settings
from baton.store.store import open_store
from tests.baton_cli import baton, clean_env
from tests.history_factory import Past, build_past

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def past(settings: Settings, tmp_path: Path) -> Past:
    store = open_store(settings)
    try:
        return build_past(store, tmp_path / "handovers")
    finally:
        store.close()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return clean_env(settings.home, BATON_DB_URL=settings.database_url, BATON_USER="sam")


def history_json(env: dict[str, str], *args: str) -> Any:
    done = baton(env, "history", "toy", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def aliases(doc: Any) -> dict[str, int]:
    return {a["alias"]: a["version"] for a in doc["served"]["aliases"]}


def in_order(text: str, *parts: str) -> bool:
    places = [text.find(p) for p in parts]
    return -1 not in places and places == sorted(places)


def test_the_timeline_and_what_serves_now(env: dict[str, str], past: Past) -> None:
    done = baton(env, "history", "toy")
    assert done.returncode == 0, done.stderr
    timeline, now = done.stdout.split("toy serving now")
    assert in_order(
        timeline,
        "version 1 registered",
        f"@production -> 1 (promotion #{past.ids['release1']})",
        "rendered version 1 for k8s into /srv/deploy/toy-1",
        f"rollout #{past.ids['rollout2']} step 0 (canary 10 %): advance, score 100",
        "errors pass (critical): canary 0, baseline 0, n 240/236",
        f"@production 2 -> 1 (rollback #{past.ids['rollback']})",
        "nonfinite high (critical): canary 12, baseline 0: NaN in 12 outputs",
    )
    assert in_order(now, "@production  version 1", "p99 doubled after the release", "@staging")


def test_at_answers_what_served_who_approved_it_and_why(env: dict[str, str], past: Past) -> None:
    marks = {k: v.isoformat() for k, v in past.marks.items()}
    before = history_json(env, "--at", marks["before"])
    assert before["served"]["aliases"] == [] and before["events"] == []
    assert before["at"] == marks["before"]
    first = history_json(env, "--at", marks["v1_serving"])
    assert aliases(first) == {"candidate": 3, "production": 1, "staging": 1}
    prod = next(a for a in first["served"]["aliases"] if a["alias"] == "production")
    assert prod["promotion"]["reason"] == "first release"
    assert [a["person"] for a in prod["promotion"]["approvals"]] == ["bob", "sue"]
    assert prod["gate"]["status"] == "passed" and prod["gate"]["id"] == past.ids["gate1"]
    mid = history_json(env, "--at", marks["mid_rollout"])
    assert mid["served"]["rollout"]["weights"] == {"stable": 50, "baseline": 25, "canary": 25}
    assert aliases(history_json(env, "--at", marks["v2_serving"]))["production"] == 2
    back = history_json(env, "--at", marks["rolled_back"])
    prod = next(a for a in back["served"]["aliases"] if a["alias"] == "production")
    assert (prod["version"], prod["promotion"]["kind"]) == (1, "rollback")
    told = baton(env, "history", "toy", "--at", marks["v1_serving"])
    assert told.returncode == 0, told.stderr
    assert in_order(
        told.stdout,
        f"toy at {past.marks['v1_serving'].astimezone().isoformat(sep=' ', timespec='seconds')}",
        "@production  version 1",
        f"promotion #{past.ids['release1']}, asked by sam",
        "approved by bob (team research, evaluation)",
        "approved by sue (team serving, deployment)",
        f"gate passed: passed accuracy, latency (evaluation #{past.ids['gate1']}",
    )


def test_a_time_without_zone_is_local_time(env: dict[str, str], past: Past) -> None:
    paris = {**env, "TZ": "Europe/Paris"}
    local = past.marks["rolled_back"].astimezone(PARIS).replace(tzinfo=None).isoformat(sep=" ")
    doc = history_json(paris, "--at", local)
    assert doc["at"] == past.marks["rolled_back"].isoformat()
    assert aliases(doc)["production"] == 1
    minute = past.marks["before"].astimezone(PARIS).strftime("%Y-%m-%d %H:%M")
    told = baton(paris, "history", "toy", "--at", minute)
    assert told.returncode == 0, told.stderr
    assert "nothing: toy did not exist yet" in told.stdout
    assert history_json(env, "--at", "2 days ago")["served"]["aliases"] == []


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday", "--at 'yesterday' is not a time: write ISO 8601 with a zone"),
        ("2026-13-01", "--at '2026-13-01' is not a time"),
        ("2999-01-01T00:00:00Z", "is in the future"),
        ("3 fortnights ago", "is not a time"),
    ],
)
def test_bad_at_is_one_line_and_exit_2(env: dict[str, str], at: str, message: str) -> None:
    done = baton(env, "history", "toy", "--at", at)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_unknown_model_is_one_line_and_exit_2(env: dict[str, str], past: Past) -> None:
    done = baton(env, "history", "nope")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: unknown model 'nope': `baton models` lists them\n"
    bad = baton(env, "history", "Not A Name")
    assert bad.returncode == 2 and "model name 'Not A Name' is not valid" in bad.stderr
