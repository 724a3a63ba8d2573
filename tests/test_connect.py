"""Which control plane the settings name: the API at BATON_URL, else the store here."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.client import RemoteControl
from baton.config import Settings
from baton.connect import connect
from baton.errors import BadInput
from baton.store.local_control import LocalControl
from baton.store.store import Store, open_store


def never_opened() -> Store:
    raise AssertionError("a remote control plane must not open the store here")


def test_a_url_without_a_token_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, url="http://127.0.0.1:8700", token=None)
    with pytest.raises(BadInput, match="BATON_URL is set but BATON_TOKEN is not: export"):
        connect(settings, never_opened)


def test_a_url_and_a_token_name_the_api(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, url="http://127.0.0.1:8700/", token="t0ken")
    control = connect(settings, never_opened)
    assert isinstance(control, RemoteControl) and control.url == "http://127.0.0.1:8700"
    control.close()


def test_no_url_opens_the_store_here_as_the_user(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", user="ana", url=None)
    opened: list[Store] = []

    def store() -> Store:
        opened.append(open_store(settings))
        return opened[0]

    control = connect(settings, store)
    try:
        assert isinstance(control, LocalControl) and control.user == "ana"
        assert control.store is opened[0] and control.models() == []
    finally:
        opened[0].close()
