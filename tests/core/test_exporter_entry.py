"""The exporter.yaml schema: what it accepts, and the one line it gives when it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from baton.core.exporter_entry import Category, ExporterEntry, Requirement, parse_entry
from baton.errors import BadInput


def _entry(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "node_exporter",
        "title": "node_exporter",
        "summary": "host metrics",
        "upstream": "https://github.com/prometheus/node_exporter",
        "category": "host",
        "version": "1.5.0",
        "image": "quay.io/prometheus/node-exporter:v1.5.0",
        "port": 9100,
        "job": "node",
        "requires": ["host_pid"],
        "install": {"debian": "prometheus-node-exporter"},
        "key_metrics": [{"name": "node_load1", "type": "gauge", "help": "load"}],
        "provenance": {"rules": "original", "licence": "Apache-2.0"},
    }
    data.update(changes)
    return data


def test_a_complete_entry_parses() -> None:
    entry = parse_entry(_entry())
    assert isinstance(entry, ExporterEntry)
    assert entry.category is Category.HOST and entry.requires == [Requirement.HOST_PID]
    assert entry.metrics_path == "/metrics"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"port": 0}, "port: Input should be greater than or equal to 1"),
        ({"category": "gpus"}, "category: Input should be"),
        ({"name": "Node Exporter"}, "name: String should match pattern"),
        ({"image": "quay.io/prometheus/node-exporter"}, "image: pin the image to a version tag"),
        ({"image": "nvcr.io/nvidia/dcgm-exporter:latest"}, "pin the image to a version tag"),
        ({"upstream": "http://example.com"}, "upstream: String should match pattern"),
        ({"install": {}}, "install: give at least one of debian, pip, container, helm"),
        ({"install": {"helm": "repo/chart"}}, "a helm chart needs helm_repo"),
        ({"key_metrics": []}, "key_metrics: List should have at least 1 item"),
        (
            {"key_metrics": [{"name": "9bad", "type": "gauge", "help": "x"}]},
            "'9bad' is not a Prometheus metric name",
        ),
        ({"requires": ["root"]}, "requires.0: Input should be"),
        ({"prot": 9100}, "prot: unknown field (check its spelling"),
        ({"provenance": {"rules": "x"}}, "provenance.licence: required field is missing"),
    ],
)
def test_a_bad_field_is_named_in_one_line(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_entry(_entry(**changes), "x/exporter.yaml")
    assert err.value.message.startswith("x/exporter.yaml: ")
    assert message in err.value.message
    assert "\n" not in err.value.message
    assert "baton schema manifest" not in err.value.message


def test_an_image_is_optional_but_pinned_when_given() -> None:
    data = _entry()
    del data["image"]
    assert parse_entry(data).image is None
    assert parse_entry(_entry(image="registry:5000/team/x:1.2")).image == "registry:5000/team/x:1.2"
    with pytest.raises(BadInput, match="pin the image"):
        parse_entry(_entry(image="registry:5000/team/x"))


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(BadInput, match="expected a mapping of fields, got list"):
        parse_entry(["name", "node"])
