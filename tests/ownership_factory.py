"""A small organisation for ownership tests: teams, people with tokens, a model with versions.

research owns ``toy`` (accountable for quality), serving runs it; marketing has no role.
Two people per acting team, so four-eyes approvals can be exercised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from baton.core.evaluation import EvaluationReport
from baton.handover.register import register_handover
from baton.store.governance import Governance
from baton.store.people import Person
from baton.store.store import Store
from tests.handover_factory import write_handover

TEAMS = ("research", "serving", "marketing")
PEOPLE = {
    "root": ("serving",),  # the first person: admin
    "alice": ("research",),
    "bob": ("research",),
    "sam": ("serving",),
    "sue": ("serving",),
    "mia": ("marketing",),
}


@dataclass
class World:
    gov: Governance
    people: dict[str, Person] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.gov.store

    def actions(self, model: str = "toy") -> list[str]:
        """The model's audit actions, newest first."""
        return [e.action for e in self.store.registry.log_entries(model, limit=1000)]

    def evaluate(self, version: int, status: str = "passed", model: str = "toy") -> None:
        self.store.evaluations.record(
            model,
            version,
            status=status,  # type: ignore[arg-type]
            report=EvaluationReport.model_validate({"accuracy": 0.9}),
            actor="gate",
            started_at=datetime.now(UTC),
        )


def build_world(store: Store, folder: Path, versions: int = 3) -> World:
    gov = Governance.of(store)
    world = World(gov)
    bootstrap = gov.people.acting("root")
    for team in TEAMS:
        gov.people.add_team(team, bootstrap, "test organisation")
    for name, teams in PEOPLE.items():
        actor = bootstrap if name == "root" else world.people["root"]
        person, issued = gov.people.add_person(name, list(teams), actor)
        world.people[name] = person
        world.tokens[name] = issued.token
    for seed in range(1, versions + 1):
        register_handover(store, write_handover(folder / f"toy{seed}", seed=seed), actor="alice")
    return world
