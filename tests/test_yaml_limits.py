"""The limits' own wording; ``test_yaml_files`` checks that reading enforces them."""

from __future__ import annotations

from baton.yaml_limits import MANIFEST_LIMITS, YamlLimits


def test_an_error_names_the_setting_that_raises_the_limit() -> None:
    error = MANIFEST_LIMITS.over("baton.yaml", "nesting deeper than 32 levels", "DEPTH", line=4)
    assert str(error) == (
        "baton.yaml holds nesting deeper than 32 levels at line 5: keep it smaller "
        "(or raise BATON_MANIFEST_MAX_DEPTH)"
    )


def test_limits_without_a_setting_say_only_what_to_do() -> None:
    error = YamlLimits().over("fleet.yaml", "2,000,001 nodes", "NODES")
    assert str(error) == "fleet.yaml holds 2,000,001 nodes: keep it smaller"


def test_a_manifest_is_bounded_tighter_than_a_data_file() -> None:
    default = YamlLimits()
    assert MANIFEST_LIMITS.max_bytes < default.max_bytes
    assert MANIFEST_LIMITS.max_nodes < default.max_nodes
