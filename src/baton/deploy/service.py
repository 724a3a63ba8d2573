"""``baton deploy render``: check who may deploy what, gather the spec, write the files.

Only a version whose latest evaluation passed is rendered, and (once people are
registered) only by a team R or A of ``deployment`` in the model's R&R matrix, or an admin
with ``--force``; refusals are audited like promotions' (``deploy.render.refused``). The
files are written into a temporary folder beside ``--out`` and renamed into place, then the
render is recorded with its audit entry; if recording fails the folder is removed, so a
render either exists and is recorded, or neither.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from baton.core.refs import parse_ref
from baton.core.roles import ACTING_ROLES, NotPermitted, Stage
from baton.deploy.spec import PORT, TARGETS, Layer, RenderSpec
from baton.errors import BadInput, FailedCheck, Forbidden
from baton.store.evaluations import EvaluationRecord
from baton.store.ownership import attempt, owners_in
from baton.store.people import People, Person
from baton.store.registry import VersionInfo
from baton.store.renders import record_render
from baton.store.store import Store
from baton.store.tx import write

PRECISIONS = ("fp32", "int8", "recommended")  # as `baton serve --precision` takes them


@dataclass(frozen=True)
class RenderRequest:
    """What ``baton deploy render`` was asked (flags as given; None: not given)."""

    ref: str
    targets: tuple[str, ...]
    out: Path
    overwrite: bool = False
    force: bool = False
    why: str | None = None
    resources: Layer = field(default_factory=dict)  # cores, memory_bytes, gpus...
    hardware: str | None = None
    from_audit: Path | None = None
    image: str | None = None
    namespace: str = "default"
    storage_uri: str | None = None
    canary: int | None = None
    percent: int | None = None
    kserve_mode: str = "standard"
    model_from: str = "image"
    with_monitoring: bool = False
    with_router: bool = False  # compose: a `baton router` service in front of the version
    wheel: Path | None = None
    precision: str | None = None  # fp32 | int8 | recommended; None: the registered model
    grpc_port: int | None = None

    def check(self) -> None:
        """Bad input found before anything is read or written (exit 2)."""
        if not self.targets:
            raise BadInput(f"name at least one --target ({', '.join(TARGETS)})")
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown:
            raise BadInput(f"unknown target {unknown[0]!r}: use one of {', '.join(TARGETS)}")
        if (self.canary is None) != (self.percent is None):
            raise BadInput("--canary VERSION and --percent N go together")
        if self.canary is not None and "compose" in self.targets and not self.with_router:
            raise BadInput(
                "--target compose with --canary needs --with-router: the router splits the "
                "traffic between the stable, baseline and canary services"
            )
        if self.kserve_mode not in ("standard", "knative"):
            raise BadInput(f"--kserve-mode {self.kserve_mode}: use standard or knative")
        if self.model_from not in ("image", "volume"):
            raise BadInput(f"--model-from {self.model_from}: use image or volume")
        if self.out.exists() and not self.overwrite:
            raise BadInput(f"{self.out} exists: pick a new --out, or pass --overwrite")
        if self.wheel is not None and not self.wheel.is_file():
            raise BadInput(f"--wheel {self.wheel}: no such file")
        if self.precision not in (None, *PRECISIONS):
            raise BadInput(f"--precision {self.precision}: use {', '.join(PRECISIONS)}")
        self._check_grpc()

    def _check_grpc(self) -> None:
        port = self.grpc_port
        if port is None:
            return
        if not 1 <= port <= 65535 or port == PORT:
            raise BadInput(f"--grpc-port {port}: a port in 1..65535 other than {PORT} (8081)")
        if "ray" in self.targets:
            raise BadInput(
                "--grpc-port: Ray Serve's proxy carries HTTP only, so the ray target serves "
                "no gRPC; render it in a render of its own, without --grpc-port"
            )
        if "kserve" in self.targets and self.kserve_mode == "knative":
            raise BadInput(
                "--grpc-port with --kserve-mode knative: Knative routes one port per "
                "container (HTTP here); use --kserve-mode standard for gRPC"
            )


@dataclass(frozen=True)
class Rendered:
    render_id: int
    out: Path
    manifest_sha256: str
    files: dict[str, str]  # path -> sha256
    forced: bool
    spec: RenderSpec


def authorize(store: Store, user: str, info: VersionInfo, request: RenderRequest) -> bool:
    """Gate passed and the actor may deploy; True when an admin's --force was needed.
    Refusals are audited (``deploy.render.refused``) and re-raised."""
    forced: list[bool] = [False]

    def work(conn: sa.Connection) -> None:
        evaluation = store.evaluations.latest(info.model, info.number)
        if evaluation is None:
            raise FailedCheck(
                f"{info.ref} never ran the gate: run `baton evaluate {info.ref}` first"
            )
        if not evaluation.passed:
            raise FailedCheck(
                f"{info.ref} did not pass the gate (evaluation {evaluation.id}: "
                f"{evaluation.status}): only a version that passed is deployed"
            )
        forced[0] = _may_deploy(conn, store, user, info, request.force)

    attempt(
        store.engine, work, actor=user, action="deploy.render", model=info.model,
        version=info.number, reason=request.why, detail={"targets": list(request.targets)},
    )  # fmt: skip
    return forced[0]


def _may_deploy(
    conn: sa.Connection, store: Store, user: str, info: VersionInfo, force: bool
) -> bool:
    people = People(store.engine)
    if not people.people():
        return False  # nobody registered yet: the store is not governed (as for aliases)
    person: Person = people.acting(user)
    allowed = owners_in(conn, info.model).matrix.teams_with(Stage.DEPLOYMENT, ACTING_ROLES)
    if set(person.teams) & set(allowed):
        return False
    if force and person.admin:
        return True
    if force:
        raise Forbidden(f"--force is for admins, and {person.name} is not one")
    raise NotPermitted(
        f"only {' or '.join(allowed)} (R or A of deployment for {info.model}) may deploy "
        f"it; your teams: {', '.join(person.teams) or 'none'} (an admin may pass --force)",
        allowed,
    )


def render(store: Store, user: str, request: RenderRequest) -> Rendered:
    """Check, render every target into a temporary folder, move it into place, record it."""
    from baton.deploy.gather import gather_spec
    from baton.deploy.writer import render_files, write_tree

    request.check()
    info = store.registry.resolve(parse_ref(request.ref))
    forced = authorize(store, user, info, request)
    evaluation = store.evaluations.latest(info.model, info.number)
    assert evaluation is not None  # authorize refused otherwise
    spec = gather_spec(store, info, evaluation, request)
    out = request.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        lock = _fill(store, info, evaluation, spec, request, tmp)
        render_files(spec, request.targets, tmp, lock)
        digest, listing = write_tree(tmp, spec, request.targets, _options(spec, request))
        _replace(tmp, out, request.overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        render_id = write(store.engine, lambda conn: record_render(
            conn, actor=user, model=info.model, version=info.number,
            targets=sorted(set(request.targets)), out=str(out), manifest_sha256=digest,
            forced=forced, options=_options(spec, request), reason=request.why,
        ))  # fmt: skip
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return Rendered(render_id, out, digest, listing, forced, spec)


def _fill(
    store: Store,
    info: VersionInfo,
    evaluation: EvaluationRecord,
    spec: RenderSpec,
    request: RenderRequest,
    tmp: Path,
) -> str | None:
    """The binary parts: model folders (the int8 copy in them only when it is served) and
    the wheel (copied, never rendered); the image's lock, which hashes the wheel, back."""
    from baton.deploy.bundle import write_model_dir
    from baton.deploy.image import PYTHON
    from baton.deploy.lock import lock
    from baton.deploy.wheel import build_wheel

    int8 = spec.precision == "int8"
    if request.targets != ("image",):
        write_model_dir(store, info, evaluation, tmp / "model", int8=int8)
    if "image" not in request.targets:
        return None
    if spec.model_from == "image":
        write_model_dir(store, info, evaluation, tmp / "image" / "model", int8=int8)
    wheels = tmp / "image" / "wheels"
    if request.wheel is not None:
        wheels.mkdir(parents=True, exist_ok=True)
        wheel = wheels / request.wheel.name
        shutil.copyfile(request.wheel, wheel)
    else:
        wheel = build_wheel(wheels)
    return lock(wheel, PYTHON)


def _options(spec: RenderSpec, request: RenderRequest) -> dict[str, object]:
    """What MANIFEST.json and the store record as the options (deterministic)."""
    return {
        "targets": sorted(request.targets),
        "image": spec.image,
        "namespace": spec.namespace,
        "storage_uri": spec.storage_uri,
        "kserve_mode": spec.kserve_mode,
        "model_from": spec.model_from,
        "with_monitoring": spec.with_monitoring,
        "with_router": spec.with_router,
        "precision": request.precision,  # as asked; MANIFEST.json's own says what runs
        "grpc_port": spec.grpc_port,
        "canary": spec.canary.model_dump() if spec.canary else None,
        "resources": json.loads(spec.resources.model_dump_json()),
    }


def _replace(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished folder into place; an old one (``--overwrite``) goes only after."""
    if not out.exists():
        tmp.rename(out)
        return
    if not overwrite:
        raise BadInput(f"{out} exists: pick a new --out, or pass --overwrite")
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
