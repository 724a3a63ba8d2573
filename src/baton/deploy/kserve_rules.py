"""What KServe's CRD schema does not check: unknown keys, and the webhook's cross-field
rules (``pkg/apis/serving/v1beta1/inference_service_validation.go``)."""

from __future__ import annotations

from typing import Any

MODE = "serving.kserve.io/deploymentMode"


def unknown_keys(body: Any, schema: dict[str, Any], at: str = "") -> list[str]:
    """Keys the schema does not name (kubeconform's ``-strict``), as ``path: unknown key``."""
    problems: list[str] = []
    if isinstance(body, dict):
        props = schema.get("properties")
        open_map = schema.get("x-kubernetes-preserve-unknown-fields") or isinstance(
            schema.get("additionalProperties"), dict
        )
        for key, value in body.items():
            path = f"{at}.{key}" if at else str(key)
            if props is not None and key in props:
                problems += unknown_keys(value, props[key], path)
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += unknown_keys(value, schema["additionalProperties"], path)
            elif props is not None and not open_map:
                problems.append(f"{path}: unknown key (the CRD schema does not name it)")
    elif isinstance(body, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(body):
            problems += unknown_keys(item, schema["items"], f"{at}[{i}]")
    return problems


def cross_field(doc: dict[str, Any]) -> list[str]:
    """The admission webhook's rules on an InferenceService's canaries."""
    if doc.get("kind") != "InferenceService":
        return []
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    canaries = spec.get("canary") or []
    if not canaries:
        return []
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    problems = []
    if annotations.get(MODE) != "Standard":
        problems.append(f"spec.canary needs the annotation {MODE}: Standard")
    stable = (spec.get("predictor") or {}).get("name")
    names = [((c.get("predictor") or {}).get("name")) for c in canaries if isinstance(c, dict)]
    if len(set(names)) != len(names):
        problems.append("spec.canary: names must be unique")
    if stable is not None and stable in names:
        problems.append(f"spec.canary: name {stable!r} is the stable predictor's")
    total = sum(int(c.get("trafficPercent", 0)) for c in canaries if isinstance(c, dict))
    if total > 100:
        problems.append(f"spec.canary: trafficPercent adds up to {total}, above 100")
    for i, c in enumerate(canaries):
        predictor = c.get("predictor") or {} if isinstance(c, dict) else {}
        for key in ("maxReplicas", "scaleTarget"):
            if key in predictor:
                problems.append(f"spec.canary[{i}].predictor.{key}: a canary has fixed replicas")
    return problems
