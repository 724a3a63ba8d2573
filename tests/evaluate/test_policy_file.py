"""The team policy file read at the edge: defaults, a real file, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.policy import Policy
from baton.errors import BadInput
from baton.evaluate.policy_file import load_policy


def test_no_file_means_the_defaults_and_a_file_overrides(tmp_path: Path) -> None:
    assert load_policy(None) == Policy()
    path = tmp_path / "policy.yaml"
    path.write_text("regression:\n  max_drop: 0.02\nrequire_slo: true\n")
    policy = load_policy(path)
    assert policy.regression.max_drop == 0.02 and policy.require_slo
    path.write_text("")
    assert load_policy(path) == Policy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ("regression: [unclosed", "is not valid YAML"),
        ("sanity:\n  max_nonfinite: -1\n", "sanity.max_nonfinite"),
        # issue 15.7: read through the one YAML reader, so its limits hold here too
        ("a: " + "[" * 40 + "]" * 40 + "\n", "policy.yaml holds more than 32 levels of nesting"),
        ("regression: {max_drop: 2026-13-45}\n", "is not valid YAML .*cannot read '2026-13-45'"),
    ],
)
def test_bad_policy_files(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "policy.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BadInput, match=message) as err:
        load_policy(path)
    assert "\n" not in err.value.message
