"""Schemathesis over the OpenAPI document: no request a client can make gets a 5xx.

Property-based requests for every operation (read endpoints as a viewer, checks and operations as
an officer, tokens as an admin) against the sample register on real PostGIS. Only server errors are
checked here; response shapes are the other tests' business.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app.main import create_app
from tests.api_helpers import auth, make_token


@pytest.fixture(scope="module")
def api_schema(sample_settings_module):
    app = create_app(sample_settings_module)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def admin_headers(sample_settings_module):
    return auth(make_token(sample_settings_module, "admin"))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
