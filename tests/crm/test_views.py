"""Admin pages of the CRM: lists and access, contacts, API keys, CSV import with its report."""

# ruff: noqa: RUF001 - Ukrainian and Russian texts beside Latin names

from __future__ import annotations

import hashlib
import html
import io
import re
import secrets
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Membership, Role
from app.crm import services
from app.crm.models import ApiKey, ContactList, CrmContact, CsvUpload, ListAccess
from app.extensions import db
from app.google.models import GoogleConnection
from app.sync.models import ContactSync
from tests.conftest import Factory
from tests.crm.conftest import SignIn, csrf, live_members


def key_form(client: FlaskClient, name: str) -> dict[str, str]:
    """What the create-key form of a freshly loaded API keys page sends, with ``name`` typed in."""
    page = client.get("/admin/crm/api-keys").text
    fields = dict(re.findall(r'name="(csrf_token|form_token)" value="([^"]+)"', page))
    assert set(fields) == {"csrf_token", "form_token"}
    return {**fields, "name": name}


def test_only_admins_reach_the_crm_pages(factory: Factory, signed_in: SignIn, admin: Membership) -> None:
    member = signed_in(factory.member(admin.account, Role.MEMBER))
    reviewer = signed_in(factory.member(admin.account, Role.REVIEWER))
    for page in ["/admin/crm", "/admin/crm/contacts", "/admin/crm/api-keys", "/admin/crm/import"]:
        assert signed_in(admin).get(page).status_code == 200
        assert member.get(page).status_code == 403
        assert reviewer.get(page).status_code == 403


def test_an_api_key_is_shown_once_works_and_can_be_revoked(
    app: Flask, signed_in: SignIn, admin: Membership
) -> None:
    client = signed_in(admin)
    created = client.post("/admin/crm/api-keys", data=key_form(client, "CRM prod"))
    match = re.search(r'data-testid="api-key-secret">(gsk_[^<]+)<', created.text)
    assert match is not None
    secret = match.group(1)
    assert secret not in client.get("/admin/crm/api-keys").text
    api = app.test_client()
    assert api.get("/api/v1/lists", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    key = db.session.scalar(select(ApiKey))
    assert key is not None
    assert key.created_by == admin.user_id
    client.post(
        f"/admin/crm/api-keys/{key.id}/revoke",
        data={"csrf_token": csrf(client, "/admin/crm/api-keys"), "confirmed": "yes"},
    )
    assert api.get("/api/v1/lists", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_state_changes_need_the_csrf_token(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    assert client.post("/admin/crm/api-keys", data={"name": "x"}).status_code == 400
    assert db.session.scalar(select(ApiKey)) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "is required"), ("k" * 101, "is 101 characters long; at most 100 are allowed")],
)
def test_a_bad_key_name_is_explained(signed_in: SignIn, admin: Membership, name: str, message: str) -> None:
    client = signed_in(admin)
    form = key_form(client, name)
    response = client.post("/admin/crm/api-keys", data=form, follow_redirects=True)
    assert f"Key name {message}." in response.text
    assert db.session.scalar(select(ApiKey)) is None
    # Nothing was created, so the same form sent again with a good name still creates its key.
    corrected = client.post("/admin/crm/api-keys", data={**form, "name": "CRM prod"})
    assert 'data-testid="api-key-secret"' in corrected.text
    assert [key.name for key in db.session.scalars(select(ApiKey))] == ["CRM prod"]


def _key_count(account_id: int) -> int:
    return len(services.api_keys(db.session, account_id))


def test_reloading_the_page_of_a_new_key_creates_no_second_key(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    form = key_form(client, "CRM prod")
    first = client.post("/admin/crm/api-keys", data=form)
    secret = re.search(r'data-testid="api-key-secret">(gsk_[^<]+)<', first.text)
    assert secret is not None
    assert _key_count(admin.account_id) == 1

    # A reload sends the same POST again, form token included.
    reload = client.post("/admin/crm/api-keys", data=form)

    assert reload.status_code == 302
    assert reload.headers["Location"] == "/admin/crm/api-keys"
    assert _key_count(admin.account_id) == 1
    page = client.get(reload.headers["Location"]).text
    assert "This form already created its key, whose secret is shown only once." in page
    assert secret.group(1) not in page
    assert 'data-testid="api-key-secret"' not in page
    assert "CRM prod" in page


def test_forms_open_in_several_tabs_each_create_their_key(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    first_tab, second_tab = key_form(client, "first"), key_form(client, "second")
    assert first_tab["form_token"] != second_tab["form_token"]
    for form in (second_tab, first_tab):
        assert 'data-testid="api-key-secret"' in client.post("/admin/crm/api-keys", data=form).text
    assert sorted(key.name for key in services.api_keys(db.session, admin.account_id)) == ["first", "second"]


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 200])
def test_a_missing_or_malformed_form_token_creates_nothing(
    signed_in: SignIn, admin: Membership, token: str
) -> None:
    client = signed_in(admin)
    form = {**key_form(client, "CRM prod"), "form_token": token}
    answer = client.post("/admin/crm/api-keys", data=form)
    assert answer.status_code == 302
    assert _key_count(admin.account_id) == 0
    assert (
        "The form was incomplete or out of date; nothing was created."
        in client.get("/admin/crm/api-keys").text
    )


def test_one_form_sent_twice_at_the_same_instant_creates_one_key(
    app: Flask, admin: Membership, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two writers at once need PostgreSQL; SQLite admits one writer at a time anyway")
    token = secrets.token_urlsafe(16)
    outcome: list[str] = []
    with Session(db.engine) as first, Session(db.engine) as second:
        # The first sending is mid-transaction: its key is inserted, not yet committed.
        first.add(
            ApiKey(
                account_id=admin.account_id,
                name="first",
                prefix="gsk_first",
                secret_hash="1" * 64,
                form_token_hash=hashlib.sha256(token.encode()).hexdigest(),
            )
        )
        first.flush()

        def send_again() -> None:
            with app.app_context():
                try:
                    services.create_api_key(second, admin.account_id, "second", None, form_token=token)
                    outcome.append("created")
                except services.FormAlreadyUsedError:
                    outcome.append("refused")

        worker = threading.Thread(target=send_again)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), f"the second sending did not wait for the first: {outcome}"
        first.commit()
        worker.join(timeout=10)
    assert outcome == ["refused"]
    assert [key.name for key in services.api_keys(db.session, admin.account_id)] == ["first"]


def test_members_cannot_create_keys(factory: Factory, signed_in: SignIn, admin: Membership) -> None:
    form = key_form(signed_in(admin), "CRM prod")
    for role in (Role.MEMBER, Role.REVIEWER):
        client = signed_in(factory.member(admin.account, role))
        token = csrf(client, "/dashboard")
        response = client.post("/admin/crm/api-keys", data={**form, "csrf_token": token})
        assert response.status_code == 403
    assert _key_count(admin.account_id) == 0


def test_granting_and_withdrawing_a_list_is_recorded_on_the_members_access(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    member = factory.member(admin.account, Role.MEMBER)
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    client = signed_in(admin)
    before = contact_list.content_changed_at
    client.post(
        f"/admin/crm/lists/{contact_list.id}/access",
        data={"csrf_token": csrf(client, "/admin/crm"), "membership_id": member.id},
    )
    assert [row.id for row in services.lists_available_to(db.session, member)] == [contact_list.id]
    page = client.get("/admin/crm").text
    assert member.user.email in page
    db.session.refresh(contact_list)
    # One member's access, not the list's content: the scheduler reads the access row's times.
    assert contact_list.content_changed_at == before
    granted = db.session.scalar(select(ListAccess))
    assert granted is not None
    granted_at = granted.granted_at
    client.post(
        f"/admin/crm/lists/{contact_list.id}/access/{member.id}/withdraw",
        data={"csrf_token": csrf(client, "/admin/crm"), "confirmed": "yes"},
    )
    assert services.lists_available_to(db.session, member) == []
    db.session.refresh(contact_list)
    assert contact_list.content_changed_at == before
    access = db.session.scalar(select(ListAccess))
    assert access is not None
    assert access.revoked_at is not None
    assert access.revoked_at >= granted_at
    assert access.revoked_by == f"user:{admin.user_id}"


def test_lists_and_members_of_another_account_are_out_of_reach(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    stranger = factory.member(factory.account("Other"), Role.MEMBER)
    theirs, _ = services.put_list(db.session, stranger.account_id, "l1", {"name": "Theirs"})
    mine, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Mine"})
    client = signed_in(admin)
    token = csrf(client, "/admin/crm")
    grant_theirs = client.post(
        f"/admin/crm/lists/{theirs.id}/access", data={"csrf_token": token, "membership_id": admin.id}
    )
    assert grant_theirs.status_code == 404
    grant_stranger = client.post(
        f"/admin/crm/lists/{mine.id}/access", data={"csrf_token": token, "membership_id": stranger.id}
    )
    assert grant_stranger.status_code == 404
    assert db.session.scalar(select(ListAccess)) is None
    assert "Theirs" not in client.get("/admin/crm").text


def test_admin_deletes_a_contact(signed_in: SignIn, admin: Membership) -> None:
    services.upsert_contact(db.session, admin.account_id, "c1", {"given_name": "Олена"})
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "L"})
    services.change_members(db.session, admin.account_id, "l1", {"contact_ids": ["c1"]}, add=True)
    before = contact_list.content_changed_at
    client = signed_in(admin)
    page = client.get("/admin/crm/contacts", query_string={"q": "олена"})
    assert "Олена" in page.text
    row = db.session.scalar(select(CrmContact))
    assert row is not None
    client.post(
        f"/admin/crm/contacts/{row.id}/delete",
        data={"csrf_token": csrf(client, "/admin/crm/contacts"), "confirmed": "yes"},
    )
    db.session.expire_all()
    assert row.deleted
    assert row.deleted_by == f"user:{admin.user_id}"
    assert contact_list.content_changed_at > before
    assert "Олена" not in client.get("/admin/crm/contacts").text


def test_default_phone_region_setting(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    client.post("/admin/crm/settings", data={"csrf_token": csrf(client, "/admin/crm"), "region": "ua"})
    assert services.default_region(db.session, admin.account_id) == "UA"
    refused = client.post(
        "/admin/crm/settings",
        data={"csrf_token": csrf(client, "/admin/crm"), "region": "ZZ"},
        follow_redirects=True,
    )
    assert "not a known ISO 3166-1 region code" in refused.text
    assert services.default_region(db.session, admin.account_id) == "UA"


def test_csv_mapping_choices_are_named_in_the_reader_language(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    preview = client.post(
        "/admin/crm/import",
        data={
            "csrf_token": csrf(client, "/admin/crm/import"),
            "list_name": "Клієнти",
            "file": (io.BytesIO("id,Прізвище\nc1,Коваль\n".encode()), "c.csv"),
        },
        content_type="multipart/form-data",
        headers={"Accept-Language": "uk"},
        follow_redirects=True,
    )
    assert '<option value="family_name" selected>прізвище (family_name)</option>' in preview.text
    assert '<option value="telegram">telegram</option>' in preview.text, "a messenger keeps its own name"


def test_csv_upload_preview_mapping_and_report(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    content = "\ufeffID;Ім'я;Прізвище;Пошта\nc1;Олена;Коваль;olena@example.com\nc2;Bad;Mail;nope\n".encode()
    preview = client.post(
        "/admin/crm/import",
        data={
            "csrf_token": csrf(client, "/admin/crm/import"),
            "list_name": "Клієнти",
            "file": (io.BytesIO(content), "contacts.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert preview.status_code == 200
    assert "Коваль" in preview.text
    assert '<option value="given_name" selected>' in preview.text
    action = re.search(r'action="(/admin/crm/import/\d+)"', preview.text)
    assert action is not None
    token = re.search(r'name="csrf_token" value="([^"]+)"', preview.text)
    assert token is not None
    report = client.post(
        action.group(1),
        data={"csrf_token": token.group(1), "column": ["id", "given_name", "family_name", "email_home"]},
        follow_redirects=True,
    )
    assert report.status_code == 200
    assert "1 created, 0 updated, 0 unchanged, 1 skipped" in report.text
    assert "column &#39;Пошта&#39;" in report.text
    contact_list = db.session.scalar(select(ContactList).where(ContactList.name == "Клієнти"))
    assert contact_list is not None
    stored = live_members(contact_list)
    assert [(c.crm_id, c.emails[0].type) for c in stored] == [("c1", "home")]
    # The staged file is gone once imported; its report stays and reloads, and sending the form
    # again imports nothing and shows the same report.
    upload = db.session.scalar(select(CsvUpload))
    assert upload is not None
    assert upload.content == b""
    assert "1 created, 0 updated, 0 unchanged, 1 skipped" in client.get(f"{action.group(1)}/report").text
    again = client.post(action.group(1), data={"csrf_token": token.group(1), "column": ["id"]})
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"{action.group(1)}/report")


def test_a_bad_upload_is_explained(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    response = client.post(
        "/admin/crm/import",
        data={
            "csrf_token": csrf(client, "/admin/crm/import"),
            "list_name": "L",
            "file": (io.BytesIO("id\nОльга".encode("cp1251")), "latin.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "not UTF-8" in response.text


def test_a_mapping_without_id_is_explained_and_the_upload_kept(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    preview = client.post(
        "/admin/crm/import",
        data={
            "csrf_token": csrf(client, "/admin/crm/import"),
            "list_name": "L",
            "file": (io.BytesIO(b"id,name\nc1,Ann\n"), "a.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    action = re.search(r'action="(/admin/crm/import/\d+)"', preview.text)
    assert action is not None
    token = csrf(client, "/admin/crm/import")
    again = client.post(action.group(1), data={"csrf_token": token, "column": ["", "given_name"]})
    assert "map one column to" in again.text
    assert db.session.scalar(select(CrmContact)) is None
    done = client.post(
        action.group(1), data={"csrf_token": token, "column": ["id", "given_name"]}, follow_redirects=True
    )
    assert "1 created" in done.text


def test_the_overview_shows_who_has_access_and_who_syncs(
    factory: Factory, signed_in: SignIn, admin: Membership
) -> None:
    syncing = factory.member(admin.account, Role.MEMBER, email="syncing@example.com")
    idle = factory.member(admin.account, Role.MEMBER, email="idle@example.com")
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "Customers"})
    services.upsert_contact(db.session, admin.account_id, "c1", {"given_name": "A"})
    services.change_members(db.session, admin.account_id, "l1", {"contact_ids": ["c1"]}, add=True)
    for membership in (syncing, idle):
        services.grant_access(db.session, contact_list, membership, "user:1")
    connection = GoogleConnection(account_id=admin.account_id, user_id=syncing.user_id)
    db.session.add(connection)
    db.session.flush()
    db.session.add(
        ContactSync(
            account_id=admin.account_id,
            membership_id=syncing.id,
            list_id=contact_list.id,
            connection_id=connection.id,
        )
    )
    db.session.commit()
    page = signed_in(admin).get("/admin/crm").text
    row = page[page.index('data-testid="crm-list-l1"') :]
    assert re.search(r'<td [^>]*data-testid="crm-list-size">1</td>', row), "the list's size is 1"
    assert re.search(r"User \d+\s*<small data-testid=\"sync-state\">syncing \(new\)</small>", row)
    assert re.search(r"User \d+\s*<small data-testid=\"sync-state\">not syncing</small>", row)


def test_ids_beyond_the_database_range_are_not_found(signed_in: SignIn, admin: Membership) -> None:
    client = signed_in(admin)
    token = csrf(client, "/admin/crm")
    huge = 2**31
    assert client.post(f"/admin/crm/contacts/{huge}/delete", data={"csrf_token": token}).status_code == 404
    assert client.get("/admin/crm/contacts", query_string={"cursor": huge}).status_code == 400
    contact_list, _ = services.put_list(db.session, admin.account_id, "l1", {"name": "L"})
    granted = client.post(
        f"/admin/crm/lists/{contact_list.id}/access", data={"csrf_token": token, "membership_id": huge}
    )
    assert granted.status_code == 400


def _import_report(client: FlaskClient, language: str, content: str, columns: list[str]) -> str:
    """The report page of importing ``content`` (``;``-separated) with ``columns``, read in ``language``."""
    headers = {"Accept-Language": language}
    preview = client.post(
        "/admin/crm/import",
        data={
            "csrf_token": csrf(client, "/admin/crm/import"),
            "list_name": "Клієнти",
            "file": (io.BytesIO(content.encode()), "contacts.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
        headers=headers,
    )
    action = re.search(r'action="(/admin/crm/import/\d+)"', preview.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', preview.text)
    assert action is not None
    assert token is not None
    report = client.post(
        action.group(1),
        data={"csrf_token": token.group(1), "column": columns},
        follow_redirects=True,
        headers=headers,
    )
    assert report.status_code == 200
    return html.unescape(report.text)


@pytest.mark.parametrize(
    ("language", "country_code", "url", "english_gone"),
    [
        (
            "uk",
            "стовпець «Країна»: має бути дволітерним кодом ISO 3166-1",
            "стовпець «Сайт»: має бути абсолютною адресою http:// або https:// без пробілів",
            True,
        ),
        (
            "ru",
            "столбец «Країна»: должно быть двухбуквенным кодом ISO 3166-1",
            "столбец «Сайт»: должно быть абсолютным адресом http:// или https:// без пробелов",
            True,
        ),
        (
            "en",
            "column 'Країна' must be a two-letter ISO 3166-1 code",
            "column 'Сайт' must be an absolute http:// or https:// URL without spaces",
            False,
        ),
    ],
)
def test_the_report_shows_a_row_reason_wholly_in_the_reader_language(
    signed_in: SignIn, admin: Membership, language: str, *, country_code: str, url: str, english_gone: bool
) -> None:
    """The validation phrase inside a stored row reason is translated too, not only its frame."""
    content = "ID;Ім'я;Країна;Сайт\nc1;Олена;UA;\nc2;Петро;U1;\nc3;Ігор;;ftp://x.example\n"
    text = _import_report(
        signed_in(admin), language, content, ["id", "given_name", "country_code", "url_homepage"]
    )
    assert country_code in text
    assert url in text
    assert '{"msgid"' not in text
    english = ("must be a two-letter ISO 3166-1 code", "must be an absolute http")
    assert any(phrase in text for phrase in english) is not english_gone


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "uk",
            [
                "не є правильною адресою електронної пошти: немає знака @",
                "не є правильною адресою електронної пошти: частина перед знаком @ містить недозволені "
                "символи: U+0020",
                "не є номером телефону: код країни відсутній або невідомий (почніть номер із + і коду "
                "країни)",
                "не є номером телефону: занадто короткий",
            ],
        ),
        (
            "ru",
            [
                "не является правильным адресом электронной почты: нет знака @",
                "не является правильным адресом электронной почты: часть перед знаком @ содержит "
                "недопустимые символы: U+0020",
                "не является номером телефона: код страны отсутствует или неизвестен (начните номер с + и "
                "кода страны)",
                "не является номером телефона: слишком короткий",
            ],
        ),
        (
            "en",
            [
                "is not a valid e-mail address: it has no @ sign",
                "is not a valid e-mail address: the part before the @ sign has characters that are not "
                "allowed: U+0020",
                "is not a phone number: its country calling code is missing or unknown",
                "is not a phone number: it is too short",
            ],
        ),
    ],
)
def test_an_address_or_number_the_libraries_refuse_is_explained_in_the_reader_language(
    signed_in: SignIn, admin: Membership, language: str, expected: list[str]
) -> None:
    """email-validator's and phonenumbers' own English explanations never reach the report."""
    content = (
        "ID;Ім'я;E-mail;Телефон\nc0;Оксана;oksana@example.com;\nc1;Олена;olena.example.com;\n"
        "c2;Петро;pe tro@example.com;\n"
        "c3;Ігор;;+999 123 456\nc4;Іра;;+380 1\n"
    )
    text = _import_report(
        signed_in(admin), language, content, ["id", "given_name", "email_work", "phone_mobile"]
    )
    for reason in expected:
        assert reason in text
    library_words = (
        "An email address must have an @-sign",
        "SPACE",
        "Could not interpret",
        "too short to be",
    )
    assert not any(words in text for words in library_words)
    assert '{"msgid"' not in text
