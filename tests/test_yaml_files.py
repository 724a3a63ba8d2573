from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import BadInput
from baton.yaml_files import read_yaml


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
