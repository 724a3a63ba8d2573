"""Read the team's gate policy file (YAML) at the edge; the rules live in ``core.policy``."""

from __future__ import annotations

from pathlib import Path

import yaml

from baton.core.policy import Policy, parse_policy
from baton.errors import BadInput
from baton.evaluate.catalogue import packaged_names
from baton.yaml_files import YamlLimits, load_yaml


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path``, or the built-in defaults when no file is named. Metrics
    that installed packages add (``baton.metrics`` entry points) may be gated too."""
    if path is None:
        return Policy()
    if not path.is_file():
        raise BadInput(
            f"policy file {path} does not exist: fix --policy / BATON_POLICY, "
            "or leave it unset for the defaults"
        )
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), path.name, YamlLimits())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BadInput(f"policy file {path.name} is not valid YAML ({first})") from None
    return parse_policy(data, source=path.name, extra=packaged_names())
