"""What KServe's CRD schema does not check: unknown keys, and the webhook's cross-field
rules (``pkg/apis/serving/v1beta1/inference_service_validation.go``).

Both read documents back from files, so every value is narrowed before it is used: a
document of the wrong shape is a problem the schema reports, never a crash here.
"""

from __future__ import annotations

from collections.abc import Mapping

MODE = "serving.kserve.io/deploymentMode"


def _map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def unknown_keys(body: object, schema: Mapping[str, object], at: str = "") -> list[str]:
    """Keys the schema does not name (kubeconform's ``-strict``), as ``path: unknown key``."""
    problems: list[str] = []
    if isinstance(body, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        open_map = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or isinstance(
            extra, dict
        )
        for key, value in body.items():
            path = f"{at}.{key}" if at else str(key)
            if isinstance(props, dict) and key in props:
                problems += unknown_keys(value, _map(props[key]), path)
            elif isinstance(extra, dict):
                problems += unknown_keys(value, extra, path)
            elif props is not None and not open_map:
                problems.append(f"{path}: unknown key (the CRD schema does not name it)")
    elif isinstance(body, list) and isinstance(schema.get("items"), dict):
        items = _map(schema.get("items"))
        for i, item in enumerate(body):
            problems += unknown_keys(item, items, f"{at}[{i}]")
    return problems


def cross_field(doc: Mapping[str, object]) -> list[str]:
    """The admission webhook's rules on an InferenceService's canaries."""
    if doc.get("kind") != "InferenceService":
        return []
    spec = _map(doc.get("spec"))
    canary_list = spec.get("canary")
    canaries = [_map(c) for c in canary_list] if isinstance(canary_list, list) else []
    if not canaries:
        return []
    annotations = _map(_map(doc.get("metadata")).get("annotations"))
    problems = []
    if annotations.get(MODE) != "Standard":
        problems.append(f"spec.canary needs the annotation {MODE}: Standard")
    stable = _map(spec.get("predictor")).get("name")
    names = [_map(c.get("predictor")).get("name") for c in canaries]
    if len(set(map(str, names))) != len(names):
        problems.append("spec.canary: names must be unique")
    if stable is not None and stable in names:
        problems.append(f"spec.canary: name {stable!r} is the stable predictor's")
    total = sum(_percent(c.get("trafficPercent")) for c in canaries)
    if total > 100:
        problems.append(f"spec.canary: trafficPercent adds up to {total}, above 100")
    for i, c in enumerate(canaries):
        predictor = _map(c.get("predictor"))
        for key in ("maxReplicas", "scaleTarget"):
            if key in predictor:
                problems.append(f"spec.canary[{i}].predictor.{key}: a canary has fixed replicas")
    return problems


def _percent(value: object) -> int:
    """A canary's share; not a whole number: 0 here (the CRD schema reports its type)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
