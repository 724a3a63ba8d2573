from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from baton.errors import BadInput
from baton.yaml_files import YamlLimits, load_yaml, read_yaml, read_yaml_documents


def test_reads_a_document(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: [1, 2]\n", encoding="utf-8")
    assert read_yaml(path, "fleet file", "--fleet") == {"a": [1, 2]}


def test_a_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: 1\nb: [2\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"f\.yaml: not valid YAML at line 3, column 1: "):
        read_yaml(path, "fleet file", "--fleet")


def test_missing_and_unreadable_files_say_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such price file; pass --prices with an existing"):
        read_yaml(tmp_path / "none.yaml", "price file", "--prices")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match="the price file is not UTF-8 text"):
        read_yaml(binary, "price file", "--prices")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_deep_nesting_is_refused_before_the_recursive_composer(tmp_path: Path) -> None:
    path = write(tmp_path, "a: " + "[" * 600 + "]" * 600 + "\n")  # RecursionError before
    with pytest.raises(BadInput, match="holds more than 32 levels of nesting at line 1"):
        read_yaml(path, "fleet file", "--fleet")
    path = write(tmp_path, "a: " + "[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(BadInput, match="levels of nesting|nesting depth"):  # libyaml: 1000
        read_yaml(path, "fleet file", "--fleet")


def test_nesting_up_to_the_limit_is_read() -> None:
    text = "[" * 32 + "]" * 32
    assert load_yaml(text, "f", YamlLimits()) is not None


def test_nodes_are_counted_and_bounded() -> None:
    limits = YamlLimits(max_nodes=100)
    assert load_yaml(f"[{', '.join(['1'] * 98)}]", "f", limits) == [1] * 98
    with pytest.raises(BadInput, match="f holds more than 100 keys, values and items at line 1"):
        load_yaml(f"[{', '.join(['1'] * 100)}]", "f", limits)


def test_an_alias_counts_as_everything_it_repeats() -> None:
    """A 'billion laughs' file is a few hundred bytes that expand without end."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(BadInput, match="more than 2,000,000 keys, values and items"):
        load_yaml("\n".join(lines), "f", YamlLimits())


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    text = "base: &b {cpu: 2, memory: 4}\nsmall: {<<: *b, cpu: 1}\nsame: *b\n"
    assert load_yaml(text, "f", YamlLimits(max_nodes=40)) == {
        "base": {"cpu": 2, "memory": 4},
        "small": {"cpu": 1, "memory": 4},
        "same": {"cpu": 2, "memory": 4},
    }


def test_long_values_and_big_files_are_refused_naming_the_setting(tmp_path: Path) -> None:
    limits = YamlLimits(max_bytes=64, max_string=10, settings="BATON_MANIFEST_MAX_")
    refused = r"longer than 10 characters at line 2: keep it smaller \(or raise .*_MAX_STRING\)"
    with pytest.raises(BadInput, match=refused):
        load_yaml("a: 1\nb: abcdefghijk\n", "f", limits)
    path = write(tmp_path, "a: " + "x" * 62)
    with pytest.raises(BadInput, match="more than 64 bytes: keep it smaller .*_MAX_BYTES"):
        read_yaml(path, "manifest", "--manifest", limits)
    path.write_text("a: " + "x" * 61)
    with pytest.raises(BadInput, match="longer than 10 characters"):  # read up to the limit
        read_yaml(path, "manifest", "--manifest", limits)


@pytest.mark.parametrize(
    "value",
    ["2026-13-45", "2001-02-30 10:00:00", "!!int x", "!!float x", "!!bool x", "!!timestamp x"],
)
def test_values_the_constructor_cannot_build_are_syntax_errors(tmp_path: Path, value: str) -> None:
    """These raised ValueError, KeyError or AttributeError out of yaml.safe_load."""
    path = write(tmp_path, f"a: 1\nversion: {value}\n")
    with pytest.raises(BadInput, match=r"not valid YAML at line 2, column 10: cannot read"):
        read_yaml(path, "fleet file", "--fleet")


def test_unsafe_tags_stay_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
        load_yaml("a: !!python/object/apply:os.system ['true']", "f", YamlLimits())


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSONISH)
def test_the_bounded_loader_reads_what_safe_load_reads(value: Any) -> None:
    text = yaml.safe_dump(value)
    assert load_yaml(text, "f", YamlLimits()) == yaml.safe_load(text)


def test_documents_are_read_bounded_and_worded_as_one(tmp_path: Path) -> None:
    """Kubernetes manifests hold several documents: the same reader, limits and wording."""
    path = write(tmp_path, "kind: A\n---\nkind: B\n---\n")
    assert read_yaml_documents(path, "manifest", "--manifests") == [
        {"kind": "A"},
        {"kind": "B"},
        None,
    ]
    path = write(tmp_path, "kind: A\n---\nkind: [B\n")
    with pytest.raises(BadInput, match=r"f\.yaml: not valid YAML at line 4, column 1: "):
        read_yaml_documents(path, "manifest", "--manifests")
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = write(tmp_path, "kind: A\n---\n" + "\n".join(lines))  # the second document
    with pytest.raises(BadInput, match="more than 2,000,000 keys, values and items"):
        read_yaml_documents(path, "manifest", "--manifests")
    with pytest.raises(BadInput, match="no such manifest; pass --manifests"):
        read_yaml_documents(tmp_path / "none.yaml", "manifest", "--manifests")
