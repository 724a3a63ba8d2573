"""Deterministic text for rendered files: YAML documents with a header saying where they
came from, and the labels and annotations every target shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import yaml

from baton.deploy.spec import PORT, RenderSpec

MODEL, VERSION, TRACK = "baton.dev/model", "baton.dev/version", "baton.dev/track"
OWNER, HARDWARE, DIGEST = "baton.dev/owner", "baton.dev/hardware", "baton.dev/digest"
SLO, RPS = "baton.dev/slo-p99-ms", "baton.dev/rps-at-slo"
PRECISION = "baton.dev/precision"

# A rendered document: written, never read back by the renderer (``check.py`` reads files)
Document = dict[str, object]


class _Dumper(yaml.SafeDumper):
    """Block style, strings that look like numbers or booleans quoted (YAML 1.1 safe)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def header(spec: RenderSpec, what: str) -> list[str]:
    """Comment lines opening every rendered file."""
    return [
        f"{what}, rendered by baton {spec.baton_version} (`baton deploy render`); do not edit:",
        f"render again instead. Model {spec.ref}, sha256 {spec.digest}.",
        spec.resources.comment(),
    ]


def comment(lines: Sequence[str], mark: str = "#") -> str:
    return "".join(f"{mark} {line}\n" for line in lines)


def yaml_documents(lines: Sequence[str], docs: Sequence[Mapping[str, object]]) -> str:
    """``lines`` as a comment, then each document (``---`` between), keys in given order."""
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
        for d in docs
    )
    return comment(lines) + body


def labels(spec: RenderSpec, track: str = "stable") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/part-of": "baton",
        "app.kubernetes.io/managed-by": "baton",
        MODEL: spec.model,
        VERSION: str(spec.version),
        TRACK: track,
    }


def audit_annotations(spec: RenderSpec, scrape: bool = True) -> dict[str, str]:
    """What the audit reads (owner, hardware, SLO, capacity) and Prometheus' scrape keys."""
    out = {MODEL: spec.model, VERSION: str(spec.version), OWNER: spec.owner}
    out[HARDWARE] = spec.resources.hardware
    out[DIGEST] = f"sha256:{spec.digest}"
    out[PRECISION] = spec.precision
    if spec.slo_p99_ms is not None:
        out[SLO] = f"{spec.slo_p99_ms:g}"
    if spec.rps_at_slo is not None:
        out[RPS] = f"{spec.rps_at_slo:g}"
    if scrape:
        out.update({
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PORT),
            "prometheus.io/path": "/metrics",
        })  # fmt: skip
    return out
