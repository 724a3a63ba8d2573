from __future__ import annotations

import json
from pathlib import Path

from baton.serve.discovery import advertised, register, target_file, unregister


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


def test_a_deployment_labels_its_servers_in_place(tmp_path: Path) -> None:
    """Written again for the same address with labels (a deployment naming each server's
    variant): one file, the labels added, nothing else changed."""
    first = register(tmp_path, "127.0.0.1", 9001, ["toy:1"])
    again = register(tmp_path, "127.0.0.1", 9001, ["toy:1"],
                     {"variant": "canary", "baton_deployment": "toy"})  # fmt: skip
    assert again == first and len(list(tmp_path.glob("*.json"))) == 1
    (entry,) = json.loads(again.read_text())
    assert entry == {
        "targets": ["127.0.0.1:9001"],
        "labels": {"baton_models": "toy:1", "variant": "canary", "baton_deployment": "toy"},
    }


def test_the_file_of_a_killed_server_is_found_from_its_address(tmp_path: Path) -> None:
    """A server killed cannot remove its file: whoever restarts it finds the same path
    from the address alone (an IPv6 one names the file without brackets or colons)."""
    for host in ("0.0.0.0", "127.0.0.1", "::1"):
        written = register(tmp_path, host, 9001, ["toy:1"])
        assert target_file(tmp_path, host, 9001) == written
        unregister(target_file(tmp_path, host, 9001))
        assert not written.exists()
    assert target_file(tmp_path, "::1", 9001).name == "__1_9001.json"
