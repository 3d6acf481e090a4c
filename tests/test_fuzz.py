"""Whatever a client sends, generated from the OpenAPI document by schemathesis,
orderpay answers with a 2xx or a 4xx in the error envelope — never a 5xx.

In process: schemathesis' ASGI client runs the REST app (as the composition root builds it) and
its lifespan; what the app answers is under test, not the transport. Nothing listens at the
public URL, so a generated request that got as far as Stripe (the embedded sandbox is reached
over HTTP) would answer 502 and fail the test loudly, never pass it quietly."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.python.asgi import shutdown_lifespans

from orderpay import create_rest_server
from payment_core.identity import find_demo_user
from tests.conftest import make_settings
from tests.support import free_port


@pytest.fixture(scope="module", params=["airbnb", "ebaycclone"])
def fuzz_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp(f"fuzz-{request.param}-{backend}")
    app = create_rest_server(make_settings(request, backend, request.param, data_dir, demo_data=True, port=free_port()))
    try:
        yield app
    finally:
        shutdown_lifespans()  # the app's, which schemathesis started with its first request


def test_no_generated_request_gets_a_server_error(fuzz_app: Any) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9, so each operation's
    # strategy is driven by hypothesis directly.
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    token = fuzz_app.state.runtime.issuer.issue(find_demo_user("alice"))
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
