"""CSV import: parsing, column mapping, the per-row report, and ``groupsync crm import``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.accounts.models import Account, Membership
from app.crm import services
from app.crm.csv_import import CsvError, NothingToImportError, guess_mapping, import_rows, parse_csv
from app.crm.models import ContactList, CrmContact
from app.extensions import db, shown_message
from tests.conftest import Factory
from tests.crm.conftest import SignIn, csrf

CSV = (
    "CRM id;First name;Last name;Email;Phone;Birthday;Telegram;Website\n"
    "c1;Олена;Шевченко;olena@example.com;044 123 4567;1990-02-03;@olena;https://example.com\n"
    "c2;Emma;Smith;not-an-email;;--12-24;;\n"
    ";No;Id;x@example.com;;;;\n"
    "c3;Ahmad;שלום;ahmad@example.com;+44 20 7946 0958;31.12.1985;;\n"
    "c1;Duplicate;Row;dup@example.com;;;;\n"
    "c4;Bad;Birthday;;;yesterday;;\n"
)


def contact(account: Account, crm_id: str) -> CrmContact:
    row = db.session.scalar(
        select(CrmContact).where(CrmContact.account_id == account.id, CrmContact.crm_id == crm_id)
    )
    assert row is not None
    return row


def test_bom_and_semicolons_are_detected() -> None:
    parsed = parse_csv(("\ufeff" + CSV).encode())
    assert parsed.delimiter == ";"
    assert parsed.headers[0] == "CRM id"
    assert [number for number, _ in parsed.rows] == [2, 3, 4, 5, 6, 7]
    comma = parse_csv(b'id,given_name,notes\n1,Ann,"multi\nline, with comma"\n')
    assert comma.delimiter == ","
    assert comma.rows == [(2, ["1", "Ann", "multi\nline, with comma"])]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("id;name\n1;Ольга".encode("cp1251"), "not UTF-8"),
        (b"", "empty"),
        (b"id,name\n1,a\x00b\n", "NUL"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(content: bytes, fragment: str) -> None:
    with pytest.raises(CsvError) as caught:
        parse_csv(content)
    assert fragment in shown_message(str(caught.value))


def test_mapping_is_guessed_from_headers_in_english_and_ukrainian() -> None:
    assert guess_mapping(["CRM id", "First name", "Прізвище", "E-mail", "телефон", "Notes", "Mystery"]) == [
        "id",
        "given_name",
        "family_name",
        "email_work",
        "phone_mobile",
        "notes",
        "",
    ]
    assert guess_mapping(["email", "Email"]) == ["email_work", ""]


def test_import_reports_every_row_and_stores_only_good_ones(app: Flask, factory: Factory) -> None:
    account = factory.account()
    services.set_default_region(db.session, account.id, "UA")
    parsed = parse_csv(CSV.encode())
    report = import_rows(db.session, account.id, parsed, guess_mapping(parsed.headers), "Imported")
    by_row = {r.row: r for r in report.rows}
    assert by_row[2].status == "created"
    assert by_row[3].status == "skipped"
    assert "column 'Email'" in shown_message(by_row[3].reason)
    assert by_row[4].status == "skipped"
    assert "no CRM id" in shown_message(by_row[4].reason)
    assert by_row[5].status == "created"
    assert by_row[6].status == "skipped"
    assert "already appears in row 2" in shown_message(by_row[6].reason)
    assert by_row[7].status == "skipped"
    assert "column 'Birthday'" in shown_message(by_row[7].reason)
    olena = services.to_contact_data(contact(account, "c1"))
    assert olena.family_name == "Шевченко"
    assert olena.phones[0].value == "+380441234567"
    assert olena.birthday is not None
    assert (olena.birthday.year, olena.birthday.month, olena.birthday.day) == (1990, 2, 3)
    assert olena.messengers[0].protocol == "telegram"
    assert olena.urls[0].type == "homePage"
    contact_list = db.session.scalar(select(ContactList).where(ContactList.name == "Imported"))
    assert contact_list is not None
    assert services.list_sizes(db.session, [contact_list.id]) == {contact_list.id: 2}
    assert (report.count("created"), report.count("skipped")) == (2, 4)


def test_reimport_updates_only_mapped_fields_and_reports_unchanged(app: Flask, factory: Factory) -> None:
    account = factory.account()
    services.upsert_contact(
        db.session,
        account.id,
        "c1",
        {"given_name": "Old", "job_title": "CTO", "phones": [{"value": "+380441234567", "type": "work"}]},
    )
    first = parse_csv(b"id,given_name\nc1,New\n")
    report = import_rows(db.session, account.id, first, ["id", "given_name"], "L")
    assert [r.status for r in report.rows] == ["updated"]
    kept = contact(account, "c1")
    assert (kept.given_name, kept.job_title, kept.phones[0]["value"]) == ("New", "CTO", "+380441234567")
    again = import_rows(db.session, account.id, first, ["id", "given_name"], "L")
    assert [r.status for r in again.rows] == ["unchanged"]


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        (["given_name", "family_name"], "map one column to 'id'"),
        (["id", "id"], "more than one column"),
        (["id", "shoe_size"], "not a field"),
        (["id"], "the file has 2"),
    ],
)
def test_bad_mappings_are_refused_and_store_nothing(
    app: Flask, factory: Factory, mapping: list[str], fragment: str
) -> None:
    account = factory.account()
    parsed = parse_csv(b"a,b\nc1,x\n")
    with pytest.raises(CsvError) as caught:
        import_rows(db.session, account.id, parsed, mapping, "L")
    assert fragment in shown_message(str(caught.value))
    db.session.rollback()
    assert db.session.scalar(select(CrmContact)) is None


def test_cli_imports_a_file(app: Flask, factory: Factory, tmp_path: Path) -> None:
    account = factory.account()
    path = tmp_path / "contacts.csv"
    path.write_bytes(("\ufeff" + CSV).encode())
    result = app.test_cli_runner().invoke(
        args=["crm", "import", str(path), "--account", str(account.id), "--list", "From CLI"]
    )
    assert result.exit_code == 0, result.output
    assert "row 2 c1 created" in result.output
    assert "row 3 c2 skipped: column 'Email'" in result.output
    assert "List 'From CLI': 2 created, 0 updated, 0 unchanged, 4 skipped" in result.output


def test_cli_names_the_bad_option_or_file(app: Flask, factory: Factory, tmp_path: Path) -> None:
    account = factory.account()
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"name\nAnn\n")
    runner = app.test_cli_runner()
    no_account = runner.invoke(args=["crm", "import", str(path), "--account", "999999", "--list", "L"])
    assert no_account.exit_code != 0
    assert "--account" in no_account.output
    no_id = runner.invoke(args=["crm", "import", str(path), "--account", str(account.id), "--list", "L"])
    assert no_id.exit_code != 0
    assert "map one column to 'id'" in no_id.output


def test_reimport_replaces_only_the_values_of_mapped_types(app: Flask, factory: Factory) -> None:
    account = factory.account()
    services.upsert_contact(
        db.session,
        account.id,
        "c1",
        {
            "emails": [
                {"value": "old@example.com", "type": "work"},
                {"value": "me@example.org", "type": "home"},
            ],
            "addresses": [{"type": "work", "city": "Lviv"}, {"type": "home", "city": "Kyiv"}],
            "messengers": [
                {"protocol": "skype", "username": "old.skype"},
                {"protocol": "telegram", "username": "@t"},
            ],
        },
    )
    parsed = parse_csv(b"id,email,city,skype\nc1,new@example.com,Odesa,new.skype\n")
    report = import_rows(db.session, account.id, parsed, ["id", "email_work", "city", "skype"], "L")
    assert [r.status for r in report.rows] == ["updated"]
    data = services.to_contact_data(contact(account, "c1"))
    assert [(e.value, e.type) for e in data.emails] == [
        ("new@example.com", "work"),
        ("me@example.org", "home"),
    ]
    assert [(a.type, a.city) for a in data.addresses] == [("home", "Odesa"), ("work", "Lviv")]
    assert [(m.protocol, m.username) for m in data.messengers] == [("telegram", "@t"), ("skype", "new.skype")]


def test_a_header_only_file_is_refused_before_any_mapping() -> None:
    with pytest.raises(CsvError, match="header row but no contacts"):
        parse_csv(b"id,given_name\n\n")


def test_a_file_whose_every_row_is_refused_creates_nothing(app: Flask, factory: Factory) -> None:
    account = factory.account()
    parsed = parse_csv(b"id,email\n,a@example.com\nc2,not-an-email\n")

    with pytest.raises(NothingToImportError) as caught:
        import_rows(db.session, account.id, parsed, guess_mapping(parsed.headers), "Never")
    assert "none of the 2 rows can be imported (row 2: no CRM id" in shown_message(str(caught.value))

    db.session.rollback()
    assert [(r.row, shown_message(r.reason).split(" ")[:2]) for r in caught.value.check.refused] == [
        (2, ["no", "CRM"]),
        (3, ["column", "'email'"]),
    ]
    assert db.session.scalar(select(ContactList)) is None
    assert db.session.scalar(select(CrmContact)) is None


def test_a_row_with_nothing_but_an_id_is_refused_with_a_reason(app: Flask, factory: Factory) -> None:
    account = factory.account()
    services.upsert_contact(db.session, account.id, "known", {"given_name": "Ann", "company": "Acme"})
    services.upsert_contact(db.session, account.id, "emptied", {"given_name": "Eve"})
    parsed = parse_csv(b"id,given_name,email\nc1,,\nc2,Bob,\nknown,,\nemptied,,\n")

    report = import_rows(db.session, account.id, parsed, guess_mapping(parsed.headers), "L")

    assert [(r.crm_id, r.status, shown_message(r.reason)) for r in report.rows] == [
        ("c1", "skipped", "has nothing but an id: every other mapped column is empty"),
        ("c2", "created", ""),
        # Its company is not in the file, so it keeps it: not empty.
        ("known", "updated", ""),
        # Clearing its only field would leave nothing but the id.
        ("emptied", "skipped", "has nothing but an id: every other mapped column is empty"),
    ]
    assert db.session.scalar(select(CrmContact).where(CrmContact.crm_id == "c1")) is None


def test_the_preview_says_before_the_import_button_that_nothing_would_be_imported(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    client = signed_in(admin)
    token = csrf(client, "/admin/crm/import")
    response = client.post(
        "/admin/crm/import",
        data={"csrf_token": token, "list_name": "Nope", "file": (io.BytesIO(b"id,email\nc1,bad\n"), "x.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200
    text = response.text
    assert 'data-testid="csv-check"' in text
    assert "no row can be imported, so importing would create nothing" in text
    assert text.index('data-testid="csv-check"') < text.index('data-testid="csv-import"')
    button = re.search(r'data-testid="csv-import">([^<]*)</button>', text)
    assert button is not None
    assert button.group(1) == "Check this mapping again", "with nothing to import the button only re-checks"
    header_only = client.post(
        "/admin/crm/import",
        data={"csrf_token": token, "list_name": "Nope", "file": (io.BytesIO(b"id,email\n"), "h.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "header row but no contacts" in header_only.text
    assert 'data-testid="csv-import"' not in header_only.text
    assert db.session.scalar(select(ContactList)) is None
