"""The CRM-facing REST API end to end on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.crm import services
from app.crm.models import ApiKey, ContactList, CrmContact
from app.extensions import db
from tests.crm.conftest import Api, live_members

ALICE = {
    "given_name": "Alice",
    "family_name": "Smith",
    "emails": [{"value": "alice@example.com", "type": "work"}],
    "phones": [{"value": "+44 20 7946 0958", "type": "work"}],
}


def changed_at(crm_id: str) -> datetime:
    db.session.expire_all()
    row = db.session.scalar(select(ContactList).where(ContactList.crm_id == crm_id))
    assert row is not None
    return row.content_changed_at


def make_list_with(api: Api, list_id: str, *contact_ids: str) -> None:
    assert api.put(f"/lists/{list_id}", {"name": list_id.title()}).status_code == 201
    for contact_id in contact_ids:
        assert api.put(f"/contacts/{contact_id}", {"given_name": contact_id}).status_code == 201
    if contact_ids:
        assert (
            api.post(f"/lists/{list_id}/members:add", {"contact_ids": list(contact_ids)}).status_code == 200
        )


def test_upsert_is_idempotent_by_crm_id(api: Api) -> None:
    created = api.put("/contacts/c1", ALICE)
    assert created.status_code == 201
    assert created.json["status"] == "created"
    assert created.json["contact"]["phones"] == [{"value": "+442079460958", "type": "work"}]
    again = api.put("/contacts/c1", ALICE)
    assert again.status_code == 200
    assert again.json["status"] == "unchanged"
    changed = api.put("/contacts/c1", {**ALICE, "job_title": "CTO"})
    assert changed.json["status"] == "updated"
    assert api.get("/contacts/c1").json["job_title"] == "CTO"
    assert db.session.query(CrmContact).count() == 1


def test_put_replaces_every_field(api: Api) -> None:
    api.put("/contacts/c1", ALICE)
    api.put("/contacts/c1", {"given_name": "Alice"})
    body = api.get("/contacts/c1").json
    assert body["emails"] == []
    assert body["phones"] == []


def test_an_id_in_the_body_must_match_the_url(api: Api) -> None:
    response = api.put("/contacts/c1", {"id": "c2"})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "id"


def test_changes_to_a_member_bump_its_lists_and_noop_writes_do_not(api: Api) -> None:
    make_list_with(api, "customers", "c1")
    make_list_with(api, "others")
    before, other_before = changed_at("customers"), changed_at("others")
    api.put("/contacts/c1", {"given_name": "c1"})
    assert changed_at("customers") == before
    api.put("/contacts/c1", {"given_name": "Renamed"})
    assert changed_at("customers") > before
    assert changed_at("others") == other_before


def test_renaming_a_list_is_not_a_content_change(api: Api) -> None:
    make_list_with(api, "customers", "c1")
    before = changed_at("customers")
    renamed = api.put("/lists/customers", {"name": "Key customers"})
    assert renamed.json["status"] == "updated"
    assert renamed.json["list"]["name"] == "Key customers"
    assert changed_at("customers") == before


def test_membership_changes_bump_the_list_and_answer_item_by_item(api: Api) -> None:
    make_list_with(api, "customers", "c1", "c2")
    before = changed_at("customers")
    response = api.post("/lists/customers/members:remove", {"contact_ids": ["c1", "c9"]})
    assert response.status_code == 207
    assert [r["status"] for r in response.json["results"]] == ["removed", "error"]
    assert response.json["results"][1]["error"]["field"] == "contact_ids[1]"
    assert changed_at("customers") > before
    members = api.get("/lists/customers/members").json["members"]
    assert members == [{"id": "c2", "deleted": False}]
    assert api.get("/lists/customers").json["size"] == 1


def test_admin_deletion_keeps_membership_marks_deleted_and_bumps_every_list(api: Api) -> None:
    make_list_with(api, "a", "c1")
    make_list_with(api, "b")
    api.post("/lists/b/members:add", {"contact_ids": ["c1"]})
    before_a, before_b = changed_at("a"), changed_at("b")
    deleted = api.delete("/contacts/c1")
    assert deleted.json == {"id": "c1", "status": "deleted"}
    assert changed_at("a") > before_a
    assert changed_at("b") > before_b
    contact = api.get("/contacts/c1").json
    assert contact["deleted"] is True
    row = db.session.scalar(select(CrmContact).where(CrmContact.crm_id == "c1"))
    assert row is not None
    assert row.deleted_by is not None
    assert row.deleted_by.startswith("api_key:")
    contact_list = db.session.scalar(select(ContactList).where(ContactList.crm_id == "a"))
    assert contact_list is not None
    assert live_members(contact_list) == []
    assert api.get("/lists/a").json["size"] == 0
    assert api.delete("/contacts/c1").json["status"] == "unchanged"
    restored = api.put("/contacts/c1", {"given_name": "Back"})
    assert restored.json["status"] == "updated"
    assert restored.json["contact"]["deleted"] is False
    assert api.get("/lists/a").json["size"] == 1


def test_a_deleted_contact_cannot_be_added_to_a_list(api: Api) -> None:
    make_list_with(api, "a")
    api.put("/contacts/c1", {"given_name": "x"})
    api.delete("/contacts/c1")
    response = api.post("/lists/a/members:add", {"contact_ids": ["c1"]})
    assert response.status_code == 422
    assert "deleted" in response.json["error"]["message"]


def test_deleting_a_list_empties_it_and_it_can_come_back(api: Api) -> None:
    make_list_with(api, "a", "c1")
    before = changed_at("a")
    assert api.delete("/lists/a").status_code == 200
    assert changed_at("a") > before
    assert api.get("/lists/a").status_code == 404
    assert api.get("/lists").json["lists"] == []
    assert api.get("/contacts/c1").json["deleted"] is False
    again = api.put("/lists/a", {"name": "A again"})
    assert again.status_code == 201
    assert again.json["list"]["size"] == 0


def test_bulk_upsert_stores_good_items_and_reports_bad_ones(api: Api) -> None:
    response = api.post(
        "/contacts:batchUpsert",
        {
            "contacts": [
                {"id": "g1", "given_name": "Good"},
                {"id": "b1", "emails": [{"value": "x"}, {"value": "y@example.com"}, {"value": "bad@"}]},
                {"id": "g2", "given_name": "Добрий"},
                {"given_name": "No id"},
            ]
        },
    )
    assert response.status_code == 207
    results = response.json["results"]
    assert [r["status"] for r in results] == ["created", "error", "created", "error"]
    assert results[1]["error"]["field"] == "contacts[1].emails[0].value"
    assert results[3]["error"]["field"] == "contacts[3].id"
    assert sorted(db.session.scalars(select(CrmContact.crm_id))) == ["g1", "g2"]


def test_bulk_upsert_of_one_thousand_contacts(api: Api) -> None:
    contacts = [{"id": f"c{i}", "given_name": f"Name {i}"} for i in range(1000)]
    response = api.post("/contacts:batchUpsert", {"contacts": contacts})
    assert response.status_code == 200
    assert {r["status"] for r in response.json["results"]} == {"created"}
    again = api.post("/contacts:batchUpsert", {"contacts": contacts})
    assert {r["status"] for r in again.json["results"]} == {"unchanged"}
    too_many = api.post("/contacts:batchUpsert", {"contacts": [*contacts, {"id": "one-more"}]})
    assert too_many.status_code == 422
    assert too_many.json["error"]["field"] == "contacts"


def test_bulk_delete(api: Api) -> None:
    api.post("/contacts:batchUpsert", {"contacts": [{"id": "a"}, {"id": "b"}]})
    response = api.post("/contacts:batchDelete", {"ids": ["a", "b", "zz"]})
    assert response.status_code == 207
    assert [r["status"] for r in response.json["results"]] == ["deleted", "deleted", "error"]


def test_pagination_walks_every_contact_once(api: Api) -> None:
    api.post("/contacts:batchUpsert", {"contacts": [{"id": f"c{i:03d}"} for i in range(25)]})
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = api.get("/contacts", query_string=query).json
        seen.extend(c["id"] for c in page["contacts"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{i:03d}" for i in range(25)]
    assert api.get("/contacts", query_string={"limit": 0}).json["error"]["field"] == "limit"
    assert api.get("/contacts", query_string={"cursor": "abc"}).json["error"]["field"] == "cursor"


def test_requests_without_a_valid_key_are_refused(app: Flask, api: Api) -> None:
    client = app.test_client()
    missing = client.get("/api/v1/contacts")
    assert missing.status_code == 401
    assert missing.json["error"]["field"] == "Authorization"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/api/v1/contacts", headers={"Authorization": "Bearer gsk_not-a-key"})
    assert wrong.status_code == 401
    key = db.session.scalar(select(ApiKey))
    assert key is not None
    services.revoke_api_key(db.session, key)
    assert api.get("/contacts").status_code == 401


def test_keys_are_stored_hashed_and_record_their_use(api: Api) -> None:
    key = db.session.scalar(select(ApiKey))
    assert key is not None
    assert api.secret not in (key.secret_hash, key.prefix)
    assert api.secret.startswith(key.prefix)
    assert key.last_used_at is None
    api.get("/contacts")
    db.session.refresh(key)
    assert key.last_used_at is not None


def test_an_account_sees_and_changes_only_its_own_data(api: Api, other_api: Api) -> None:
    make_list_with(other_api, "theirs", "t1")
    assert api.get("/contacts/t1").status_code == 404
    assert api.get("/lists/theirs").status_code == 404
    assert api.delete("/contacts/t1").status_code == 404
    assert api.post("/lists/theirs/members:add", {"contact_ids": ["t1"]}).status_code == 404
    assert api.get("/contacts").json["contacts"] == []
    # The same CRM id in another account is a different contact.
    assert api.put("/contacts/t1", {"given_name": "Mine"}).status_code == 201
    assert other_api.get("/contacts/t1").json["given_name"] == "t1"


def test_the_openapi_document_is_served_without_a_key(app: Flask) -> None:
    document = app.test_client().get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/contacts:batchUpsert" in document["paths"]


def test_no_csrf_token_is_needed_but_a_session_cookie_alone_is_not_enough(app: Flask, api: Api) -> None:
    response = app.test_client().put("/api/v1/contacts/c1", json={"given_name": "x"})
    assert response.status_code == 401


def test_a_concurrent_create_of_the_same_id_is_a_retryable_conflict(app: Flask, api: Api) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs two concurrent writers, which SQLite serialises with a file lock")
    other_writer = db.engine.connect()

    raced: list[bool] = []

    def create_first(session: Session, *_: object) -> None:
        # Another request commits the same CRM id between our read and our write.
        if raced or not any(isinstance(row, CrmContact) for row in session.new):
            return
        raced.append(True)
        table = CrmContact.__table__
        other_writer.execute(table.insert().values(account_id=api.account.id, crm_id="race", search_text=""))
        other_writer.commit()

    event.listen(Session, "before_flush", create_first)
    try:
        response = api.put("/contacts/race", {"given_name": "Mine"})
    finally:
        event.remove(Session, "before_flush", create_first)
        other_writer.close()
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert api.put("/contacts/race", {"given_name": "Mine"}).json["status"] == "updated"


def test_error_bodies_stay_english_whatever_language_the_client_asks_for(api: Api) -> None:
    body = {"id": "c1", "given_name": 5, "birthday": {"month": 13, "day": 1}}
    response = api.client.put(
        "/api/v1/contacts/c1", json=body, headers={**api._headers(), "Accept-Language": "uk"}
    )
    assert response.status_code == 422
    assert response.json is not None
    assert response.json == {
        "error": {
            "code": "invalid",
            "message": "given_name must be a string, not a number",
            "field": "given_name",
        },
        "details": [
            {"field": "given_name", "message": "must be a string, not a number"},
            {"field": "birthday.month", "message": "must be between 1 and 12"},
        ],
    }
