"""schemathesis against the OpenAPI spec the server serves: no generated request gets a 5xx,
and every status code and content type that comes back is one the spec documents.

Valid (positive) and invalid (negative) requests for every operation, sent over real HTTP
with an admin's token to a server with a populated store, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from tests.api.conftest import Api

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,  # timestamps carry their UTC offset on SQLite too
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


def test_spec_is_served_and_names_bearer_auth(api: Api) -> None:
    spec = api.http().get("/openapi.json").json()
    assert spec["info"]["title"] == "baton control plane"
    assert spec["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "description": "a baton token: `baton user add` or `baton token new` prints one, once",
        "scheme": "bearer",
    }
    paths = set(spec["paths"])
    for expected in (
        "/v1/models/{name}/promotions",
        "/v1/models/{name}/promotions/approve",
        "/v1/models/{name}/rollback",
        "/v1/models/{name}/owners",
        "/v1/requests",
        "/v1/audit",
        "/v1/models/{name}/evaluations",
        "/v1/models/{name}/canary",
        "/v1/models/{name}/canary/{action}",
        "/v1/models/{name}/rollouts",
        "/v1/models/{name}/deployment",
        "/v1/models/{name}/deployment/down",
        "/v1/deployments",
    ):
        assert expected in paths


def test_generated_requests_get_no_5xx_and_documented_statuses(api: Api) -> None:
    api.world.evaluate(1)
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    auth = {"Authorization": f"Bearer {api.world.tokens['root']}"}
    seen: list[str] = []
    statuses: set[int] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                response = case.call_and_validate(base_url=api.url, headers=auth, checks=CHECKS)
                statuses.add(response.status_code)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

            if mode is GenerationMode.NEGATIVE:
                with suppress(Unsatisfiable):  # nothing to get wrong, e.g. GET /v1/health
                    check()
            else:
                check()
        seen.append(operation.label)
    assert len(seen) >= 25
    for rollout_route in (  # fuzzed too (none can start a process: toy has no @production)
        "POST /v1/models/{name}/canary",
        "POST /v1/models/{name}/canary/{action}",
        "GET /v1/models/{name}/rollouts",
        "POST /v1/models/{name}/deployment",
        "GET /v1/deployments",
    ):
        assert rollout_route in seen
    assert {200, 201, 400, 404} <= statuses  # the token worked and bad input was answered
    assert api.http("root").get("/v1/health").status_code == 200  # still serving
