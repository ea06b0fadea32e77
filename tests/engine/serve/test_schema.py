"""Schemathesis over the server's OpenAPI schema, against the real server: no input gets a 5xx.

Every operation gets up to MAX_EXAMPLES generated cases (valid and invalid bodies); the limits are small
so generations stay short on a 2-core CPU. `CASES` counts what ran (printed with -s)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

MAX_EXAMPLES = 30
CASES: dict[str, int] = {}


@pytest.fixture(scope="module")
def small_server(bundled_engine):
    from engine.serve import ServerThread
    from engine.serve.app import Limits, create_app

    app = create_app(bundled_engine, Limits(max_bytes=8, max_n=2, context_bytes=512, request_bytes=8 << 10,
                                            timeout_s=20))
    import torch

    with ServerThread(app) as s:
        # load_engine flushes subnormal floats to zero (a per-thread CPU flag, which the server's threads
        # inherited); hypothesis refuses to generate floats in a thread that does, so this one stops
        torch.set_flush_denormal(False)
        try:
            yield s
        finally:
            torch.set_flush_denormal(True)


@pytest.fixture(scope="module")
def api_schema(small_server):
    return schemathesis.openapi.from_url(f"{small_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case, small_server):
    response = case.call(base_url=small_server.url, timeout=60)
    CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1
    assert response.status_code < 500, f"{case.operation.label}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert "error" in response.json()


def test_cases_ran():
    print("schemathesis cases:", CASES, "total", sum(CASES.values()))
    assert sum(CASES.values()) >= 7 * 5
