"""List names are unique per account among live lists, ignoring case: API, pages, index, migration."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.accounts.models import Membership
from app.crm import services
from app.crm.models import ContactList
from app.extensions import db
from tests.conftest import Factory, make_settings
from tests.crm.conftest import Api, SignIn, csrf


def test_the_api_refuses_a_second_list_with_the_same_name_ignoring_case(api: Api, other_api: Api) -> None:
    assert api.put("/lists/a", {"name": "Клієнти"}).status_code == 201

    refused = api.put("/lists/b", {"name": "  клієнти "})

    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "name_taken"
    assert error["field"] == "name"
    assert "'Клієнти'" in error["message"]
    assert "'a'" in error["message"]
    assert api.get("/lists/b").status_code == 404
    # Renaming onto another list's name is refused too; renaming a list to itself in other case is not.
    assert api.put("/lists/b", {"name": "Partners"}).status_code == 201
    assert api.put("/lists/b", {"name": "клієнти"}).status_code == 409
    assert api.put("/lists/a", {"name": "КЛІЄНТИ"}).status_code == 200
    # Another account may use the name.
    assert other_api.put("/lists/a", {"name": "Клієнти"}).status_code == 201


def test_a_deleted_lists_name_is_free_and_bringing_it_back_cannot_make_a_twin(api: Api) -> None:
    api.put("/lists/a", {"name": "Customers"})
    assert api.delete("/lists/a").status_code == 200
    assert api.put("/lists/b", {"name": "customers"}).status_code == 201

    refused = api.put("/lists/a", {"name": "Customers"})

    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "name_taken"


def test_the_admin_page_refuses_a_duplicate_name(signed_in: SignIn, admin: Membership) -> None:
    services.put_list(db.session, admin.account_id, "l1", {"name": "VIP"})
    client = signed_in(admin)

    response = client.post(
        "/admin/crm/lists",
        data={"csrf_token": csrf(client, "/admin/crm"), "name": "vip"},
        follow_redirects=True,
    )

    assert "A list named &#39;VIP&#39; already exists; no list was created." in response.text
    assert db.session.scalars(select(ContactList.name)).all() == ["VIP"]


def test_csv_import_finds_its_list_ignoring_case(app: Flask, factory: Factory) -> None:
    account = factory.account()
    existing, _ = services.put_list(db.session, account.id, "l1", {"name": "Leads"})

    found = services.find_or_create_list_by_name(db.session, account.id, "LEADS")

    assert found.id == existing.id


def test_the_database_refuses_two_live_lists_with_one_name(app: Flask, factory: Factory) -> None:
    account = factory.account()
    db.session.add(ContactList(account_id=account.id, crm_id="x", name="Team", deleted_at=sa.func.now()))
    db.session.add(ContactList(account_id=account.id, crm_id="y", name="Team"))
    db.session.commit()
    db.session.add(ContactList(account_id=account.id, crm_id="z", name="TEAM"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_migration_renames_existing_duplicates_with_a_suffix(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path))
    with app.app_context():
        upgrade(revision="0002")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO account (id, name, created_at) VALUES (1, 'A', '2026-01-01')"))
            conn.execute(sa.text("INSERT INTO account (id, name, created_at) VALUES (2, 'B', '2026-01-01')"))
            rows = [
                (1, 1, "Leads", None),
                (2, 1, "leads", None),
                (3, 1, "Leads (2)", None),
                (4, 1, "LEADS", None),
                (5, 1, "Leads", "2026-01-02"),
                (6, 2, "Leads", None),
            ]
            for row_id, account_id, name, deleted in rows:
                conn.execute(
                    sa.text(
                        "INSERT INTO crm_list (id, account_id, crm_id, name, created_at, updated_at,"
                        " content_changed_at, deleted_at) VALUES (:id, :a, :c, :n, '2026-01-01',"
                        " '2026-01-01', '2026-01-01', :d)"
                    ),
                    {"id": row_id, "a": account_id, "c": f"l{row_id}", "n": name, "d": deleted},
                )
        upgrade()
        with db.engine.connect() as conn:
            names = dict(conn.execute(sa.text("SELECT id, name FROM crm_list ORDER BY id")).all())
        db.engine.dispose()
    assert names == {1: "Leads", 2: "leads (3)", 3: "Leads (2)", 4: "LEADS (4)", 5: "Leads", 6: "Leads"}
