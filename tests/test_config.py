"""Settings read BATON_* variables as pydantic-settings did, without importing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from baton.config import Settings, from_environment, grace_seconds


@pytest.fixture(autouse=True)
def _no_baton_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets what it reads: the suite's own BATON_* variables stay out."""
    for key in list(os.environ):
        if key.upper().startswith("BATON_"):
            monkeypatch.delenv(key)


def test_each_field_reads_its_variable_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_HOME", "/srv/baton")
    monkeypatch.setenv("BATON_DEBUG", "true")
    monkeypatch.setenv("BATON_API_MAX_BODY", "2048")
    monkeypatch.setenv("BATON_TOKEN", "s3cret")
    settings = Settings()
    assert settings.home == Path("/srv/baton")
    assert settings.debug is True
    assert settings.api_max_body == 2048
    assert isinstance(settings.token, SecretStr) and settings.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_a_value_passed_in_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_USER", "from-env")
    monkeypatch.setenv("BATON_HOME", "/from/env")
    settings = Settings(user="passed")
    assert settings.user == "passed"
    assert settings.home == Path("/from/env")  # the rest still comes from the environment


def test_names_are_matched_in_any_case_and_strangers_are_ignored() -> None:
    found = from_environment(
        {
            "baton_db_url": "sqlite:///x.db",
            "Baton_User": "ana",
            "BATON_NO_SUCH_SETTING": "1",
            "HOME": "/root",  # a field's name without the prefix is not a setting
            "DEBUG": "1",
        }
    )
    assert found == {"db_url": "sqlite:///x.db", "user": "ana"}


def test_defaults_need_no_variable() -> None:
    settings = Settings()
    assert settings.home == Path(".baton")
    assert settings.database_url.startswith("sqlite:///") and settings.gc_grace_seconds > 0
    assert settings.manifest_limits.settings == "BATON_MANIFEST_MAX_"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("BATON_API_MAX_BODY", "12", "api_max_body"),  # under its floor of 1024
        ("BATON_DEBUG", "maybe", "debug"),
        ("BATON_GC_GRACE", "soon", "gc_grace"),
        ("BATON_RUNBOOK_URL", "ftp://x", "runbook_url"),
    ],
)
def test_a_bad_variable_is_a_validation_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert caught.value.errors()[0]["loc"] == (field,)


def test_grace_zero_means_none() -> None:
    assert grace_seconds("0") == 0.0
    assert grace_seconds("24h") == 86_400.0
