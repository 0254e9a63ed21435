"""The API keeps its contract: JSON for every answer under /api/v1, null only where the document allows it,
and rate limits answered 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import create_app
from app.crm.openapi import openapi_document
from app.extensions import db
from tests.conftest import Factory, make_settings
from tests.crm.conftest import Api, make_api


def test_unknown_routes_and_methods_answer_in_the_api_format(api: Api) -> None:
    missing = api.get("/no-such-thing")
    assert missing.status_code == 404
    assert missing.is_json
    assert missing.get_json()["error"]["code"] == "not_found"
    assert api.client.get("/api/v1").is_json
    wrong_method = api.client.patch("/api/v1/contacts", headers={"Authorization": f"Bearer {api.secret}"})
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["Allow"].split(", ") == ["GET", "HEAD", "OPTIONS"]
    unknown_parameter = api.get("/contacts?colour=red")
    assert unknown_parameter.status_code == 400
    assert unknown_parameter.get_json()["error"]["field"] == "colour"
    # Outside the API, pages keep their own error pages.
    assert not api.client.get("/no-such-page").is_json


def test_null_is_refused_where_the_document_says_string_or_array(api: Api) -> None:
    for body, field in (
        ({"urls": None}, "urls"),
        ({"id": None, "given_name": "A"}, "id"),
        ({"emails": [{"value": "a@example.com", "type": None}]}, "emails[0].type"),
    ):
        response = api.put("/contacts/c1", body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] == field
        assert "must not be null" in response.get_json()["error"]["message"]
    accepted = api.put("/contacts/c1", {"given_name": "A", "birthday": None})
    assert accepted.status_code == 201
    schema = openapi_document()["components"]["schemas"]["ContactInput"]["properties"]
    assert schema["urls"]["type"] == "array"
    assert schema["id"]["type"] == "string"
    assert "null" in schema["birthday"]["type"]


def _limited_app(tmp_path: Path, **limits: int) -> Flask:
    settings = make_settings(f"sqlite:///{tmp_path / 'limits.sqlite3'}", tmp_path).with_overrides(**limits)
    app = create_app(settings)
    with app.app_context():
        db.create_all()
    return app


def test_wrong_keys_from_one_address_are_answered_429_with_retry_after(tmp_path: Path) -> None:
    app = _limited_app(tmp_path, api_refused_keys_per_minute=5)
    client = app.test_client()
    statuses = [
        client.get("/api/v1/contacts", headers={"Authorization": f"Bearer gsk_wrong{n}"}).status_code
        for n in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    limited = client.get("/api/v1/contacts", headers={"Authorization": "Bearer gsk_wrong"})
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # Another address is not held back by this one's guessing.
    other = client.get(
        "/api/v1/contacts",
        headers={"Authorization": "Bearer gsk_x"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 401
    with app.app_context():
        db.engine.dispose()


def test_each_api_key_has_its_own_allowance(tmp_path: Path, factory: Factory) -> None:
    app = _limited_app(tmp_path, api_requests_per_minute_per_key=3)
    with app.app_context():
        from app.accounts.models import Account

        account = Account(name="Acme")
        db.session.add(account)
        db.session.commit()
        first, second = make_api(app, account), make_api(app, account)
        assert [first.get("/contacts").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert second.get("/contacts").status_code == 200
        assert "429" in openapi_document()["paths"]["/contacts"]["get"]["responses"]
        db.session.remove()
        db.engine.dispose()
