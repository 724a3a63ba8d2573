"""The dashboard on a real server (``baton api``'s app, which mounts it at /ui) over each
database, with an organisation, evaluated versions and hostile text in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from baton.core.evaluation import EvaluationReport
from baton.core.roles import RequestKind
from baton.handover.register import register_handover
from baton.store.store import Store
from tests.api.conftest import serve
from tests.handover_factory import write_handover
from tests.history_factory import HOSTILE, seed_rollouts
from tests.ownership_factory import World, build_world
from tests.ui.forms import form

SCRIPT = HOSTILE


def _check(status: str, reason: str) -> dict[str, object]:
    return {"passed": status == "passed", "status": status, "reasons": [reason]}


def report(version: int, status: str = "passed") -> EvaluationReport:
    """A gate report as `baton evaluate` writes one, with what the charts draw."""
    matrix = [[9, 1, 0], [0, 8, 2], [1, 0, 9]]
    return EvaluationReport.model_validate(
        {
            "schema": 1,
            "model": "toy",
            "version": version,
            "task": "classification",
            "verdict": {"passed": status == "passed", "status": status, "reasons": []},
            "checks": {
                "claims": _check("passed", "accuracy 0.867 within 0.01 of the claimed 0.86"),
                "sanity": _check(status, "outputs are finite probabilities"),
            },
            "metrics": {
                "accuracy": 0.867,
                "macro_f1": 0.86,
                "labels": ["a", "b", "c"],
                "confusion_matrix": matrix,
                "per_class_recall": {"a": 0.9, "b": 0.8, "c": 0.9},
            },
            "claimed": {"accuracy": 0.86},
            "tolerance": 0.01,
        }
    )


@dataclass
class Site:
    url: str
    world: World

    @property
    def store(self) -> Store:
        return self.world.store

    def client(self, who: str | None = None) -> httpx.Client:
        """A client signed in as ``who`` (through the sign-in form), or anonymous."""
        client = httpx.Client(base_url=self.url, timeout=30)
        if who is not None:
            sign_in(client, self.world.tokens[who])
        return client


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    page = client.get("/ui/signin")
    fields = form(page.text, "/ui/signin").fields
    return client.post("/ui/signin", data={**fields, "token": token})


def send(client: httpx.Client, page: str, action: str, **values: str) -> httpx.Response:
    """Fill in the form to ``action`` on ``page`` as shown, change ``values``, send it."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(action, data={**form(shown.text, action).fields, **values})


def populate(store: Store, folder: Path) -> World:
    world = build_world(store, folder)
    for number in (1, 2):
        store.evaluations.record(
            "toy", number, status="passed", report=report(number), actor="gate",
            started_at=datetime.now(UTC),
        )  # fmt: skip
    store.evaluations.record(
        "toy", 3, status="failed", report=report(3, "failed"), actor="gate",
        started_at=datetime.now(UTC),
    )  # fmt: skip
    evil = write_handover(folder / "evil", name="evil", description=f"hello {SCRIPT}")
    register_handover(store, evil, actor="alice")
    gov = world.gov
    gov.requests.raise_request("toy", RequestKind.SCALE, f"more replicas {SCRIPT}",
                               world.people["mia"])  # fmt: skip
    gov.requests.raise_request("toy", RequestKind.RETRAIN, "retrain on November data",
                               world.people["sam"])  # fmt: skip
    seed_rollouts(store)
    return world


def serve_app(store: Store) -> Iterator[str]:
    """``create_app(store)`` (the API with the dashboard at /ui) on 127.0.0.1:<free port>."""
    yield from serve(store)


@pytest.fixture
def site(store: Store, tmp_path: Path) -> Iterator[Site]:
    world = populate(store, tmp_path)
    for url in serve_app(store):
        yield Site(url, world)
