"""The OpenAPI document against the implementation: schemathesis finds no 5xx and no off-schema response.

The schema is loaded from the document the app serves (the same function builds both), and
each generated request goes to the real app on SQLite and on PostgreSQL with a real API key.
"""

from __future__ import annotations

import re

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.crm.openapi import openapi_document
from tests.crm.conftest import Api

schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_matches_its_document(case: schemathesis.Case, app: Flask, api: Api) -> None:
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {api.secret}"},
        checks=[
            not_a_server_error,
            negative_data_rejection,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_every_api_route_is_documented_and_every_documented_operation_exists(app: Flask) -> None:
    routed = {
        (method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("crm.api.") and rule.endpoint != "crm.api.openapi"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    documented = {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routed == documented
