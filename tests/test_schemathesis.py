"""schemathesis against the API's own OpenAPI document: generated requests (valid and invalid) to
every operation, with an admin key, on a blackout state folder. No answer may be a server error,
and every answer must match the documented status codes, content types and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from hotspots.inventory import load_inventory, resolve_city
from store.state import StateDB
from tests.fixtures.blackout import build


def _app(tmp):
    inv = load_inventory(resolve_city("semarang"))
    build(inv, tmp, switch="SW-SMT-01", notice_feeder="KPK-01")
    st = StateDB(tmp)  # the folder's pantau.sqlite, as create_app reads it
    _, key = st.create_key("schemathesis", "admin")
    # No rate limit here: hypothesis sends thousands of public requests from one client.
    app = create_app(inv, tmp, rate_per_s=0, burst=1)
    return app, key


import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

_TMP = Path(tempfile.mkdtemp(prefix="pantau-schemathesis-"))
APP, KEY = _app(_TMP)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)
# The event stream never ends by itself (tested in test_api.py with max_s).
schema = schema.exclude(path="/api/v1/events")


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case):
    case.headers = {**(case.headers or {}), "X-API-Key": KEY}
    case.call_and_validate(
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    )
