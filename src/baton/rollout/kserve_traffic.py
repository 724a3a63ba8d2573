"""The canary against KServe: each step renders the InferenceService with its ``spec.canary``
traffic (``deploy/kserve.py``) and hands it to an apply hook.

The hook is a command reading the YAML on stdin (``kubectl apply -f -``), or a folder for
GitOps where each object is written as the next numbered file (``0001-iris-step1.yaml``)
for a tool such as Argo CD or Flux to apply. Each object is checked offline first (the
CRD schema and the webhook's rules, ``deploy/check.py``) and recorded as a render, so
``baton history`` shows what was applied when. Step ``p``: the stable predictor keeps
``100 - 2p`` %, the canary and a baseline copy of the stable version get ``p`` % each;
promotion names the canary's version as the predictor (KServe's promotion), rollback
drops the canary entries.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from baton.core.rollout_records import RolloutRecord, Weights
from baton.deploy.kserve import inference_service
from baton.deploy.spec import Canary, RenderSpec
from baton.deploy.text import Document, yaml_documents
from baton.errors import BadInput, FailedCheck, Unavailable
from baton.rollout.kept_options import load_options, save_options
from baton.store.renders import record_render
from baton.store.store import Store
from baton.store.tx import write

HOOK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Hook:
    """Where rendered objects go: a command's stdin, or numbered files in a folder."""

    command: str | None = None
    folder: Path | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.folder is None):
            raise BadInput("give the apply hook as --apply COMMAND or --apply-dir DIR (one)")
        if self.command is not None and not shlex.split(self.command):
            raise BadInput("--apply: the command is empty")

    def describe(self) -> str:
        return f"| {self.command}" if self.command is not None else str(self.folder)

    def apply(self, text: str, name: str) -> str:
        """Hand ``text`` over; where it went (the file, or the command)."""
        if self.folder is not None:
            return str(_next_file(self.folder, name, text))
        assert self.command is not None
        try:
            run = subprocess.run(
                shlex.split(self.command), input=text, text=True, capture_output=True,
                timeout=HOOK_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"the apply hook `{self.command}` did not run: {exc}") from None
        if run.returncode != 0:
            said = " ".join((run.stderr or run.stdout).split())[-500:]
            raise Unavailable(f"the apply hook `{self.command}` failed ({run.returncode}): {said}")
        return self.describe()


def _next_file(folder: Path, name: str, text: str) -> Path:
    """``NNNN-name.yaml``, numbered after the highest number already there."""
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9]-*.yaml")]
    path = folder / f"{max(numbers, default=0) + 1:04d}-{name}.yaml"
    tmp = folder / f".{path.name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class KServeSpecs:
    """The stable version's render spec and the canary version's (gathered once)."""

    stable: RenderSpec
    canary: RenderSpec


@dataclass(frozen=True)
class KServeOptions:
    """What a KServe rollout renders with, kept beside the rollout for a restarted
    controller (``BATON_HOME/rollouts/rollout-N-kserve.json``)."""

    apply: str | None = None
    apply_dir: str | None = None
    namespace: str = "default"
    storage_uri: str | None = None  # the stable version's; the canary's sits beside it
    image: str | None = None

    def hook(self) -> Hook:
        return Hook(self.apply, None if self.apply_dir is None else Path(self.apply_dir))

    def save(self, path: Path) -> None:
        save_options(self, path)

    @classmethod
    def load(cls, path: Path) -> KServeOptions:
        return load_options(cls, path, "the KServe options")


def gather_specs(store: Store, rollout: RolloutRecord, options: KServeOptions) -> KServeSpecs:
    """Both versions' render specs, as ``baton deploy render --target kserve`` gathers them
    (each version's latest evaluation must have passed)."""
    from baton.core.refs import Ref
    from baton.deploy.gather import gather_spec
    from baton.deploy.kserve import canary_uri
    from baton.deploy.service import RenderRequest

    def spec_of(version: int, storage_uri: str | None) -> RenderSpec:
        info = store.registry.resolve(Ref(rollout.model, version=version))
        evaluation = store.evaluations.latest(info.model, info.number)
        if evaluation is None or not evaluation.passed:
            raise FailedCheck(f"{info.ref} has no passed evaluation to render it from")
        request = RenderRequest(
            ref=info.ref, targets=("kserve",), out=Path("."), image=options.image,
            namespace=options.namespace, storage_uri=storage_uri,
        )  # fmt: skip
        return gather_spec(store, info, evaluation, request)

    stable = spec_of(rollout.from_version, options.storage_uri)
    canary = store.registry.resolve(Ref(rollout.model, version=rollout.to_version))
    placed = stable.model_copy(
        update={"canary": Canary(version=canary.number, digest=canary.sha256, percent=1)}
    )
    return KServeSpecs(stable, spec_of(rollout.to_version, canary_uri(placed)))


class KServeTraffic:
    def __init__(self, store: Store, actor: str, specs: KServeSpecs, hook: Hook) -> None:
        self.store = store
        self.actor = actor
        self.specs = specs
        self.hook = hook
        self.applied: list[Document] = []  # what this controller handed over, in order

    def prepare(self, rollout: RolloutRecord) -> None:
        """Nothing to start: KServe starts the canary's pods when its entry appears."""

    def route(self, rollout: RolloutRecord, weights: Weights, reason: str) -> None:
        if weights.canary == 0:
            self._apply(rollout, self._alone(self.specs.stable), "stable", reason)
            return
        if weights.canary == 100:
            self.promote(rollout, reason)
            return
        canary = Canary(version=self.specs.canary.version, digest=self.specs.canary.digest,
                        percent=weights.canary, baseline=weights.baseline > 0)  # fmt: skip
        spec = self.specs.stable.model_copy(update={"canary": canary})
        doc = inference_service(spec)
        self._apply(rollout, doc, f"step{rollout.step + 1}-canary{weights.canary}", reason)

    def promote(self, rollout: RolloutRecord, reason: str) -> None:
        self._apply(rollout, self._alone(self.specs.canary), "promoted", reason)

    def rollback(self, rollout: RolloutRecord, reason: str) -> None:
        self._apply(rollout, self._alone(self.specs.stable), "rolled-back", reason)

    def mend(self, rollout: RolloutRecord) -> bool:
        """KServe restarts a predictor's pods itself."""
        return False

    def retire(self, rollout: RolloutRecord, promoted: bool) -> None:
        """Nothing to stop: the entries left out of the last object are gone with it."""

    @staticmethod
    def _alone(spec: RenderSpec) -> Document:
        """One version, no canary; the predictor named after its version (``v3``), as
        KServe promotes a canary: the stable predictor takes the canary's name."""
        doc = inference_service(spec)
        body = _mapping(doc["spec"])
        doc["spec"] = {**body, "predictor": {**_mapping(body["predictor"]),
                                             "name": f"v{spec.version}"}}  # fmt: skip
        return doc

    def _apply(self, rollout: RolloutRecord, doc: Document, what: str, reason: str) -> None:
        from baton.deploy.check import kserve_problems

        problems = kserve_problems(doc)
        if problems:
            raise FailedCheck(f"the {what} InferenceService is not valid: {'; '.join(problems)}")
        spec = self.specs.stable
        name = str(_mapping(doc["metadata"])["name"])
        text = yaml_documents(
            [f"InferenceService of {rollout.model}, rollout #{rollout.id}: {what}",
             f"rendered by baton {spec.baton_version} for the canary controller"], [doc],
        )  # fmt: skip
        where = self.hook.apply(text, f"{name}-{what}")
        digest = hashlib.sha256(text.encode()).hexdigest()
        options: dict[str, object] = {"rollout": rollout.id, "step": rollout.step, "what": what,
                                      "canary": _mapping(doc["spec"]).get("canary")}  # fmt: skip
        write(self.store.engine, lambda conn: record_render(
            conn, actor=self.actor, model=rollout.model, version=spec.version,
            targets=["kserve"], out=where, manifest_sha256=digest, forced=False,
            options=options, reason=reason,
        ))  # fmt: skip
        self.applied.append(doc)


def _mapping(value: object) -> Document:
    if not isinstance(value, dict):
        raise TypeError(f"expected a mapping in the rendered object, not {value!r}")
    return value
