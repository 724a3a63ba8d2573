"""The hub loader and ``add``: validated entries, clear refusals, atomic copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from baton.errors import BadInput, Corrupt, NotFound
from baton.monitor import hub


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A private copy of two shipped entries that a test may break."""
    root = tmp_path / "catalogue"
    for name in ("node_exporter", "baton"):
        shutil.copytree(hub.CATALOGUE / name, root / name)
    return root


def test_names_lists_folders_with_an_entry_file(catalogue: Path) -> None:
    (catalogue / "not-an-entry").mkdir()
    assert hub.names(catalogue) == ["baton", "node_exporter"]


def test_load_reads_metadata_and_rules() -> None:
    node = hub.load("node_exporter")
    assert node.entry.port == 9100 and node.entry.job == "node"
    alerts = {r.name: r for r in node.rules if r.kind == "alert"}
    assert alerts["NodeExporterDown"].severity == "critical"
    assert alerts["NodeExporterDown"].for_ == "5m"
    assert "instance:node_cpu_utilisation:rate5m" in {r.name for r in node.rules}


def test_unknown_exporter_lists_the_known_ones_and_suggests_one() -> None:
    with pytest.raises(NotFound) as err:
        hub.load("dcgm")
    assert "did you mean dcgm-exporter?" in err.value.message
    assert "node_exporter" in err.value.message and "redis_exporter" in err.value.message


def test_a_path_is_never_taken_for_an_exporter_name(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        hub.load("../node_exporter")
    with pytest.raises(NotFound):
        hub.add("../../etc", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_entry_with_a_bad_field_is_named(catalogue: Path) -> None:
    path = catalogue / "baton" / "exporter.yaml"
    data = yaml.safe_load(path.read_text())
    data["port"] = 70000
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput, match=r"baton/exporter.yaml: port: .*65535"):
        hub.load("baton", catalogue)


def test_an_entry_missing_a_file_is_corrupt(catalogue: Path) -> None:
    (catalogue / "baton" / "rules.test.yaml").unlink()
    with pytest.raises(Corrupt, match="missing rules.test.yaml"):
        hub.load("baton", catalogue)


def test_rules_without_groups_are_refused(catalogue: Path) -> None:
    # the mistake most hubs ship: a bare list of rules, which promtool rejects
    rules = catalogue / "baton" / "rules.yaml"
    doc = yaml.safe_load(rules.read_text())
    rules.write_text(yaml.safe_dump(doc["groups"][1]["rules"]))
    with pytest.raises(Corrupt, match="groups:"):
        hub.load("baton", catalogue)


def test_broken_yaml_is_one_line_with_its_position(catalogue: Path) -> None:
    (catalogue / "baton" / "exporter.yaml").write_text("name: baton\nport: [9100\n")
    with pytest.raises(Corrupt) as err:
        hub.load("baton", catalogue)
    assert "\n" not in err.value.message and "line 3" in err.value.message


def test_a_folder_must_match_the_name_inside(catalogue: Path) -> None:
    shutil.copytree(catalogue / "baton", catalogue / "baton2")
    with pytest.raises(Corrupt, match="names it 'baton'"):
        hub.load("baton2", catalogue)


def test_add_copies_the_bundle_files(tmp_path: Path) -> None:
    added = hub.add("node_exporter", tmp_path / "bundle")
    folder = tmp_path / "bundle" / "exporters" / "node_exporter"
    assert added.folder == folder and not added.replaced
    assert sorted(p.name for p in folder.iterdir()) == sorted(hub.BUNDLE_FILES)
    for name in hub.BUNDLE_FILES:
        assert (folder / name).read_bytes() == (hub.CATALOGUE / "node_exporter" / name).read_bytes()
    assert folder.stat().st_mode & 0o755 == 0o755  # readable by a Prometheus user


def test_add_again_replaces_the_whole_entry_and_leaves_no_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    hub.add("baton", out)
    stale = out / "exporters" / "baton" / "stale.yaml"
    stale.write_text("old")
    (out / "exporters" / "baton" / "rules.yaml").write_text("edited by hand")
    again = hub.add("baton", out)
    assert again.replaced
    assert not stale.exists()
    assert (out / "exporters" / "baton" / "rules.yaml").read_bytes() == (
        hub.CATALOGUE / "baton" / "rules.yaml"
    ).read_bytes()
    assert [p.name for p in (out / "exporters").iterdir()] == ["baton"]


def test_add_beside_other_bundle_content_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    (out / "rules").mkdir(parents=True)
    (out / "rules" / "models.yaml").write_text("groups: []\n")
    hub.add("node_exporter", out)
    hub.add("baton", out)
    assert (out / "rules" / "models.yaml").read_text() == "groups: []\n"
    assert sorted(p.name for p in (out / "exporters").iterdir()) == ["baton", "node_exporter"]


def test_add_refuses_a_file_as_bundle_directory(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.write_text("not a directory")
    with pytest.raises(BadInput, match="is a file"):
        hub.add("baton", out)
    assert out.read_text() == "not a directory"


def test_add_of_a_broken_entry_writes_nothing(catalogue: Path, tmp_path: Path) -> None:
    (catalogue / "baton" / "dashboard.json").unlink()
    out = tmp_path / "bundle"
    with pytest.raises(Corrupt):
        hub.add("baton", out, root=catalogue)
    assert not out.exists()


def test_sample_metric_names_reads_samples_and_types() -> None:
    text = (
        "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="1"} 2\nx_seconds_sum 1.5\nx_seconds_count 2\n'
        "# TYPE up_total counter\nup_total 3\n"
    )
    assert hub.sample_metric_names(text) == {
        "x_seconds",
        "x_seconds_bucket",
        "x_seconds_sum",
        "x_seconds_count",
        "up_total",
    }
