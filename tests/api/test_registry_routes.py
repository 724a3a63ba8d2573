"""``GET /v1/models/{name}/history`` over real HTTP: the same answer the store gives, for
a token holder only; a naive or malformed instant is 400, an unknown model 404."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from baton.client import RemoteControl
from baton.errors import NotFound
from baton.store.local_control import LocalControl
from baton.store.store import Store
from tests.api.conftest import serve
from tests.history_factory import build_past


def test_history_over_http_equals_the_local_answer(store: Store, tmp_path: Path) -> None:
    past = build_past(store, tmp_path)
    local = LocalControl(store, "sam")
    for url in serve(store):
        remote = RemoteControl(url, past.world.tokens["sam"])
        now_remote, now_local = remote.history("toy", None), local.history("toy", None)
        assert now_remote.events == now_local.events and len(now_remote.events) == 37
        assert now_remote.served.aliases == now_local.served.aliases  # "now" differs: not .at
        for mark in ("before", "mid_rollout", "rolled_back"):
            at = past.marks[mark]
            assert remote.history("toy", at) == local.history("toy", at)
        assert remote.history("toy", past.marks["mid_rollout"]).served.rollout is not None
        with pytest.raises(NotFound, match="unknown model 'nope'"):
            remote.history("nope", None)
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/v1/models/toy/history").status_code == 401
            auth = {"Authorization": f"Bearer {past.world.tokens['mia']}"}
            for bad in ("2026-12-01T03:00:00", "tuesday"):
                done = http.get("/v1/models/toy/history", params={"at": bad}, headers=auth)
                assert done.status_code == 400 and done.json()["kind"] == "bad_input"
            ok = http.get("/v1/models/toy/history", headers=auth)
            assert ok.status_code == 200 and ok.json()["model"] == "toy"
        remote.close()
