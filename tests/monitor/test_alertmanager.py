"""Routes come from the R&R matrix and are proved with amtool for every model x severity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from baton.core.roles import default_matrix, parse_matrix
from baton.errors import BadInput
from baton.monitor.alertmanager import (
    ModelRouting,
    alertmanager_config,
    parse_receivers,
    routing_for,
)
from baton.monitor.promtool import check_alertmanager_config, route_test
from tests.monitor.conftest import need

RECEIVERS = {
    "email": {"smarthost": "127.0.0.1:25", "sender": "alerts@example.com"},
    "teams": {
        "serving": {
            "critical": {"type": "webhook", "url": "http://127.0.0.1:9099/page"},
            "warning": {"type": "email", "to": "serving@example.com"},
        },
        "research-vision": {
            "critical": {
                "type": "slack",
                "api_url": "https://hooks.example.com/x",
                "channel": "#vision",
            },
        },
    },
}
NLP_ONCALL = {"stages": {"on-call": {"{owner}": "RA", "serving": "C"}}}


def test_default_matrix_pages_serving_and_copies_the_owner() -> None:
    routing = routing_for("digits", default_matrix().for_owner("research-vision"))
    assert routing == ModelRouting("digits", "serving", ("research-vision",))


def test_a_model_whose_owner_is_on_call_copies_nobody_twice() -> None:
    matrix = parse_matrix(NLP_ONCALL, base=default_matrix()).for_owner("research-nlp")
    assert routing_for("nlp", matrix) == ModelRouting("nlp", "research-nlp", ())


def team(severity: str, receiver: dict[str, str]) -> dict[str, object]:
    return {"teams": {"serving": {severity: receiver}}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            team("critical", {"type": "pager", "url": "x"}),
            "does not match any of the expected tags",
        ),
        (team("critical", {"type": "webhook"}), "url: required field is missing"),
        (team("urgent", {"type": "webhook", "url": "http://x"}), "Input should be 'critical'"),
        (team("warning", {"type": "email", "to": "a@b.c"}), "an email receiver needs"),
        ({"teems": {}}, "teems: unknown field"),
    ],
)
def test_bad_receivers_files_are_one_clear_line(data: object, message: str) -> None:
    with pytest.raises(BadInput, match="^receivers.yaml: ") as info:
        parse_receivers(data)
    assert message in info.value.message


def routings() -> list[ModelRouting]:
    nlp = parse_matrix(NLP_ONCALL, base=default_matrix()).for_owner("research-nlp")
    return [
        routing_for("digits", default_matrix().for_owner("research-vision")),
        routing_for("nlp", nlp),
    ]


def test_every_model_and_severity_reaches_the_right_receivers(tmp_path: Path) -> None:
    need("amtool")
    bundle = alertmanager_config(routings(), parse_receivers(RECEIVERS))
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(bundle.config))
    checked = check_alertmanager_config(path)
    assert checked.passed, checked.message
    expected = {(labels["model"], labels["severity"]): rs for labels, rs in bundle.expectations}
    assert expected[("digits", "critical")] == ("research-vision-critical", "serving-critical")
    assert expected[("digits", "warning")] == ("serving-warning",)
    assert expected[("nlp", "critical")] == ("research-nlp-critical",)
    for labels, receivers in bundle.expectations:
        result = route_test(path, labels, receivers)
        assert result.passed, result.message
    assert any("research-nlp" in n and "stub" in n for n in bundle.notes)


def test_a_misroute_is_caught_by_amtool(tmp_path: Path) -> None:
    need("amtool")
    bundle = alertmanager_config(routings(), parse_receivers(RECEIVERS))
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(bundle.config))
    labels, _ = bundle.expectations[0]
    assert not route_test(path, labels, ["serving-warning"]).passed
