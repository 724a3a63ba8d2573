"""The team policy: defaults, overrides from a file's mapping, and one-line errors."""

from __future__ import annotations

import pytest

from baton.core.policy import DEFAULT_GATED, Policy, parse_policy
from baton.errors import BadInput


def test_defaults_gate_the_main_metric_of_each_task() -> None:
    policy = parse_policy(None)
    assert policy == Policy()
    assert policy.gated_metrics("classification") == ("accuracy", "macro_f1")
    assert policy.gated_metrics("regression") == DEFAULT_GATED["regression"]
    assert policy.regression.confidence == 0.95
    assert policy.sanity.max_nonfinite == 0


def test_a_team_file_overrides_only_what_it_names() -> None:
    policy = parse_policy(
        {"regression": {"max_drop": 0.02, "metrics": {"classification": ["accuracy"]}}}
    )
    assert policy.regression.max_drop == 0.02
    assert policy.gated_metrics("classification") == ("accuracy",)
    assert policy.gated_metrics("regression") == DEFAULT_GATED["regression"]
    assert policy.sanity == Policy().sanity


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a mapping"),
        ({"regresion": {}}, "regresion: unknown field"),
        ({"regression": {"confidence": 2}}, "regression.confidence"),
        ({"regression": {"metrics": {"classification": ["acc"]}}}, "unknown metric(s) acc"),
    ],
)
def test_bad_policy_is_one_clear_line(data: object, message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_policy(data, source="team.yaml")
    assert message in err.value.message
    assert err.value.message.startswith("team.yaml: ")
    assert "\n" not in err.value.message


def test_older_metric_names_still_work_and_packages_add_names() -> None:
    old = parse_policy({"regression": {"metrics": {"embedding": ["recall_at_k", "mean_cosine"]}}})
    assert old.gated_metrics("embedding") == ("recall_at_5", "mean_cosine")
    assert Policy().gated_metrics("embedding") == ("recall_at_5", "mean_cosine")
    team = {
        "regression": {
            "metrics": {"classification": ["accuracy", "hit_rate_at_2"]},
            "higher_is_better": {"hit_rate_at_2": True},
        }
    }
    with pytest.raises(BadInput, match="unknown metric"):
        parse_policy(team)
    policy = parse_policy(team, extra=["hit_rate_at_2"])
    assert policy.gated_metrics("classification") == ("accuracy", "hit_rate_at_2")
    assert policy.regression.higher_is_better == {"hit_rate_at_2": True}
    with pytest.raises(BadInput, match="built-in metric"):
        parse_policy({"regression": {"higher_is_better": {"log_loss": True}}})
