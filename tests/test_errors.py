"""The kind -> HTTP status table the API and the dashboard share."""

from __future__ import annotations

from baton.api.errors import KIND_OF_STATUS
from baton.errors import HTTP_STATUS, Kind


def test_every_kind_has_its_own_http_status() -> None:
    assert set(HTTP_STATUS) == set(Kind)
    assert {KIND_OF_STATUS[status] for status in HTTP_STATUS.values()} == set(Kind)
