from __future__ import annotations

import multiprocessing as mp
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from baton.config import Settings
from baton.errors import BadInput
from baton.store.log_key import load_or_create, log_key
from baton.store.store import open_store


def test_the_key_file_is_created_private_on_first_use_and_then_reused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", user="tester")
    store = open_store(settings)
    assert not settings.audit_key_path.exists()  # opening (or reading) needs no key
    store.registry.append_entry("tester", "test.entry")
    mode = stat.S_IMODE(settings.audit_key_path.stat().st_mode)
    assert mode == 0o600
    key = settings.audit_key_path.read_bytes()
    store.registry.append_entry("tester", "test.entry")
    assert settings.audit_key_path.read_bytes() == key
    assert store.registry.verify_log().intact
    assert [p.name for p in settings.audit_key_path.parent.iterdir() if "audit" in p.name] == [
        "audit.key"
    ]
    store.close()


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(BadInput, match=f"chmod 600 {path}"):
        load_or_create(path)


@pytest.mark.parametrize("text", ["", "short"])
def test_a_short_key_is_refused(tmp_path: Path, text: str) -> None:
    settings = Settings(home=tmp_path, audit_key=SecretStr(text))
    with pytest.raises(BadInput, match="BATON_AUDIT_KEY is too short"):
        _ = log_key(settings).secret


def _create(path: Path, barrier: object, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    out.put(load_or_create(path))  # type: ignore[attr-defined]


def test_processes_creating_the_key_at_once_agree_on_one(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    path = tmp_path / "fresh" / "audit.key"
    procs = [ctx.Process(target=_create, args=(path, barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    keys = {out.get(timeout=5) for _ in procs}
    assert len(keys) == 1 and keys == {path.read_text().strip().encode()}


def test_a_writer_with_another_key_is_refused(settings: Settings, tmp_path: Path) -> None:
    store = open_store(settings)
    store.registry.append_entry("tester", "test.entry")
    other = open_store(settings.model_copy(update={"audit_key": SecretStr("y" * 40)}))
    with pytest.raises(BadInput, match="the audit log is sealed with key .* BATON_AUDIT_KEY"):
        other.registry.append_entry("tester", "test.entry")
    with pytest.raises(BadInput, match="every writer and checker of one database"):
        other.registry.verify_log()
    assert store.registry.verify_log().entries == 1
    other.close()
    store.close()
