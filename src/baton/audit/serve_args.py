"""A ``baton serve`` command line inside a container: which container, what it serves, how.

Kubernetes manifests (``audit.k8s_workload``) name the versions a workload serves either
in annotations or in the arguments of the container that runs ``baton serve NAME:N ...``;
its ``--workers``, ``--max-batch-size`` and ``--threads`` say how it serves them.
"""

from __future__ import annotations

from baton.core.inventory import Serving
from baton.errors import BadInput

# `baton serve` options that take a value (the rest of the arguments are references)
SERVE_VALUE_OPTIONS = {
    "--host", "--port", "--workers", "--max-batch-size", "--max-queue-delay-ms", "--threads",
    "--max-queue", "--max-body-mb", "--poll-interval", "--drain-timeout", "--precision",
    "--max-connections", "--header-timeout", "--body-timeout", "--body-budget-mb",
    "--admin-token", "--grpc-port", "--model-dir", "--output-bins-from",
}  # fmt: skip
_SERVING_OPTIONS = {
    "--workers": "workers",
    "--max-batch-size": "max_batch_size",
    "--threads": "threads",
}


def serve_args(container: dict[str, object]) -> list[str] | None:
    """The arguments after ``serve`` when the container runs ``baton serve``, else None."""
    tokens = [str(t) for t in _as_list(container.get("command")) + _as_list(container.get("args"))]
    if "serve" not in tokens:
        return None
    at = tokens.index("serve")
    if at > 0 and not any("baton" in t for t in tokens[:at]):
        return None
    return tokens[at + 1 :]


def split_serve_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The references it serves and its options (``--name value`` or ``--name=value``)."""
    refs: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            if not eq and name in SERVE_VALUE_OPTIONS and i + 1 < len(args):
                value = args[i + 1]
                i += 1
            options[name] = value
        else:
            refs.append(token)
        i += 1
    return refs, options


def serving_container(pod: dict[str, object]) -> tuple[int, dict[str, object]] | None:
    """The container running ``baton serve``, else KServe's, else the first (and its index)."""
    containers = [c for c in _as_list(pod.get("containers")) if isinstance(c, dict)]
    if not containers:
        return None
    for i, c in enumerate(containers):
        if serve_args(c) is not None:
            return i, c
    for i, c in enumerate(containers):
        if c.get("name") == "kserve-container":
            return i, c
    return 0, containers[0]


def serving_options(where: str, options: dict[str, str]) -> Serving:
    """The ``Serving`` its options give; a bad value is one line naming the option."""
    values: dict[str, int] = {}
    for option, key in _SERVING_OPTIONS.items():
        if option in options:
            text = options[option]
            if not text.isdigit() or int(text) < 1:
                raise BadInput(
                    f"{where}: baton serve {option}: expected a whole number >= 1, got {text!r}"
                )
            values[key] = int(text)
    return Serving.model_validate(values)


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
