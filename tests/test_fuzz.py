"""Whatever a client sends, generated from the OpenAPI document by schemathesis,
orderpay answers with a 2xx or a 4xx in the error envelope — never a 5xx."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import start_server
from tests.support import LiveServer


@pytest.fixture(scope="module", params=["airbnb", "ebaycclone"])
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    yield from start_server(request, tmp_path_factory, backend, request.param, demo_data=True)


def test_no_generated_request_gets_a_server_error(fuzz_server: LiveServer) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9, so each operation's
    # strategy is driven by hypothesis directly.
    schema = schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json")
    token = fuzz_server.token("alice")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case) -> None:  # type: ignore[no-untyped-def]
            for headers in ({"Authorization": f"Bearer {token}"}, {}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
                if response.status_code >= 400:
                    body = response.json()
                    assert body["result"] == "ERR" and body["status"] == response.status_code

        no_server_error()
