from __future__ import annotations

import json
from pathlib import Path

from baton.serve.discovery import advertised, register, unregister


def test_wildcard_binds_are_scraped_on_loopback() -> None:
    assert advertised("0.0.0.0") == "127.0.0.1"
    assert advertised("::") == "127.0.0.1"
    assert advertised("10.1.2.3") == "10.1.2.3"
    assert advertised("::1") == "[::1]"


def test_register_writes_file_sd_and_unregister_removes_it(tmp_path: Path) -> None:
    path = register(tmp_path / "targets", "0.0.0.0", 8123, ["b", "a"])
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:8123"], "labels": {"baton_models": "a,b"}}
    ]
    assert [p.name for p in (tmp_path / "targets").iterdir()] == [path.name]
    unregister(path)
    unregister(path)  # twice is fine: a crashed server's file may already be gone
    assert not path.exists()
