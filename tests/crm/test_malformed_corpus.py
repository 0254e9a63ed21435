"""More than 200 malformed requests: each gets a 4xx naming the field, none a 5xx, nothing stored changes.

Cases are grouped by kind so a run on PostgreSQL stays short (one database reset per kind,
a snapshot of every CRM table before and after each request).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.crm.models import ContactList, CrmContact, CrmSettings, ListAccess, ListMember
from app.crm.validation import ADDRESS_TEXT, CONTACT_TEXT, MAX_BATCH
from app.extensions import db
from tests.conftest import Factory
from tests.crm.conftest import Api, make_api


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str
    body: bytes | None
    field: str
    content_type: str = "application/json"


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def put_contact(label: str, payload: Any, field: str) -> Case:
    return Case(label, "PUT", "/contacts/stable-1", js(payload), field)


def batch(label: str, items: Any, field: str) -> Case:
    return Case(label, "POST", "/contacts:batchUpsert", js({"contacts": items}), field)


TEXT_FIELDS = list(CONTACT_TEXT)
COLLECTION_FIELDS = ["emails", "phones", "urls", "addresses", "messengers"]
WRONG_SCALARS: list[Any] = [5, 1.5, True, [], {}]


def wrong_types() -> Iterator[Case]:
    for name in TEXT_FIELDS:
        for value in WRONG_SCALARS:
            yield put_contact(f"{name}={value!r}", {name: value}, name)
    for name in COLLECTION_FIELDS:
        for value in ["a string", 5, {"value": "x"}, True]:
            yield put_contact(f"{name}={value!r}", {name: value}, name)
        for item in [5, "x", None, []]:
            yield put_contact(f"{name}[0]={item!r}", {name: [item]}, f"{name}[0]")
    for name in ["emails", "phones", "urls"]:
        for value in [5, True, ["a@example.com"], {"v": 1}]:
            yield put_contact(f"{name}[0].value={value!r}", {name: [{"value": value}]}, f"{name}[0].value")
        yield put_contact(
            f"{name}[0].type=5", {name: [{"value": "https://example.com", "type": 5}]}, f"{name}[0].type"
        )
    for value in ["1990-01-01", 19900101, [1, 1]]:
        yield put_contact(f"birthday={value!r}", {"birthday": value}, "birthday")
    for key in ["year", "month", "day"]:
        for value in ["1", 1.5, True]:
            birthday = {"year": 1990, "month": 1, "day": 1, key: value}
            yield put_contact(f"birthday.{key}={value!r}", {"birthday": birthday}, f"birthday.{key}")
    for value in [5, True, [], {}, None]:
        yield batch(f"contacts[0].id={value!r}", [{"id": value}], "contacts[0].id")
    for body in [[], "contacts", 5, None]:
        yield Case(f"body={body!r}", "PUT", "/contacts/stable-1", js(body), "body")
    yield Case("batch body is an array", "POST", "/contacts:batchUpsert", js([{"id": "x"}]), "body")
    yield Case(
        "contacts is an object", "POST", "/contacts:batchUpsert", js({"contacts": {"id": "x"}}), "contacts"
    )
    yield Case("ids is a string", "POST", "/contacts:batchDelete", js({"ids": "stable-1"}), "ids")
    yield Case(
        "contact_ids is a string",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": "x"}),
        "contact_ids",
    )
    yield Case("list name is a number", "PUT", "/lists/new-list", js({"name": 5}), "name")
    yield Case("unknown list field", "PUT", "/lists/new-list", js({"name": "x", "colour": "red"}), "colour")
    yield Case("unknown contact field", "PUT", "/contacts/stable-1", js({"nickname": "x"}), "nickname")


def missing_ids() -> Iterator[Case]:
    yield batch("item without id", [{"given_name": "x"}], "contacts[0].id")
    yield batch("empty id", [{"id": ""}], "contacts[0].id")
    yield batch(
        "second item without id", [{"given_name": "x", "id": None}, {"given_name": "y"}], "contacts[0].id"
    )
    yield Case("batch without contacts", "POST", "/contacts:batchUpsert", js({}), "contacts")
    yield Case("empty batch", "POST", "/contacts:batchUpsert", js({"contacts": []}), "contacts")
    yield Case("delete without ids", "POST", "/contacts:batchDelete", js({}), "ids")
    yield Case("delete empty ids", "POST", "/contacts:batchDelete", js({"ids": []}), "ids")
    yield Case("members without ids", "POST", "/lists/stable-list/members:add", js({}), "contact_ids")
    yield Case(
        "members empty ids",
        "POST",
        "/lists/stable-list/members:remove",
        js({"contact_ids": []}),
        "contact_ids",
    )
    yield Case("list without name", "PUT", "/lists/new-list", js({}), "name")
    yield Case("list with empty name", "PUT", "/lists/new-list", js({"name": "  "}), "name")
    for bad in ["a b", "-leading", "x" * 129, "слово", "a/b", "a%2Fb", "a?b"]:
        yield batch(f"id {bad[:20]!r}", [{"id": bad}], "contacts[0].id")
        yield Case(f"delete id {bad[:20]!r}", "POST", "/contacts:batchDelete", js({"ids": [bad]}), "ids[0]")


def oversized() -> Iterator[Case]:
    for name, rule in CONTACT_TEXT.items():
        yield put_contact(f"{name} too long", {name: "я" * (rule.max_length + 1)}, name)
    for name, rule in ADDRESS_TEXT.items():
        address = {"city": "Kyiv", name: "x" * (rule.max_length + 1)}
        yield put_contact(f"address {name} too long", {"addresses": [address]}, f"addresses[0].{name}")
    local = "a" * 250
    yield put_contact("email too long", {"emails": [{"value": f"{local}@example.com"}]}, "emails[0].value")
    yield put_contact("phone too long", {"phones": [{"value": "1" * 41}]}, "phones[0].value")
    yield put_contact("url too long", {"urls": [{"value": "https://e.com/" + "a" * 2040}]}, "urls[0].value")
    yield put_contact(
        "type too long", {"emails": [{"value": "a@example.com", "type": "t" * 51}]}, "emails[0].type"
    )
    yield put_contact(
        "messenger too long",
        {"messengers": [{"protocol": "telegram", "username": "u" * 201}]},
        "messengers[0].username",
    )
    yield put_contact(
        "protocol too long",
        {"messengers": [{"protocol": "p" * 41, "username": "u"}]},
        "messengers[0].protocol",
    )
    for name, item in [
        ("emails", {"value": "a@example.com"}),
        ("phones", {"value": "+380441234567"}),
        ("urls", {"value": "https://example.com"}),
        ("addresses", {"city": "Kyiv"}),
        ("messengers", {"protocol": "telegram", "username": "x"}),
    ]:
        yield put_contact(f"21 {name}", {name: [item] * 21}, name)
    yield Case("list name too long", "PUT", "/lists/new-list", js({"name": "n" * 201}), "name")
    yield batch("1001 contacts", [{"id": f"n{i}"} for i in range(MAX_BATCH + 1)], "contacts")
    yield Case(
        "1001 ids",
        "POST",
        "/contacts:batchDelete",
        js({"ids": [f"n{i}" for i in range(MAX_BATCH + 1)]}),
        "ids",
    )
    yield Case(
        "1001 members",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": [f"n{i}" for i in range(MAX_BATCH + 1)]}),
        "contact_ids",
    )


def bad_characters() -> Iterator[Case]:
    for name in TEXT_FIELDS:
        for char in ["\x00", "\x1b", "\x7f", "\x85"]:
            yield put_contact(f"{name} with U+{ord(char):04X}", {name: f"a{char}b"}, name)
    for name in ["given_name", "notes", "company"]:
        body = b'{"' + name.encode() + b'": "a\\ud800b"}'
        yield Case(f"{name} with a lone surrogate", "PUT", "/contacts/stable-1", body, name)
    yield put_contact("street with NUL", {"addresses": [{"street": "a\x00"}]}, "addresses[0].street")
    yield put_contact("email with NUL", {"emails": [{"value": "a\x00@example.com"}]}, "emails[0].value")
    yield put_contact(
        "messenger with ESC",
        {"messengers": [{"protocol": "skype", "username": "\x1b[31m"}]},
        "messengers[0].username",
    )
    yield Case("list name with NUL", "PUT", "/lists/new-list", js({"name": "a\x00"}), "name")


def bad_values() -> Iterator[Case]:
    for value in [
        "plainaddress",
        "@example.com",
        "a@",
        "a@@example.com",
        "a b@example.com",
        "a@-example.com",
    ]:
        yield put_contact(f"email {value!r}", {"emails": [{"value": value}]}, "emails[0].value")
    for value in ["call me", "+", "+1", "+12345678901234567890", "12-ab-34", "++380441234567"]:
        yield put_contact(f"phone {value!r}", {"phones": [{"value": value}]}, "phones[0].value")
    for value in [
        "javascript:alert(1)",
        "ftp://example.com",
        "//example.com",
        "example.com",
        "http://",
        "https://a b.com",
    ]:
        yield put_contact(f"url {value!r}", {"urls": [{"value": value}]}, "urls[0].value")
    for birthday, field in [
        ({"month": 2, "day": 30}, "birthday"),
        ({"year": 2023, "month": 2, "day": 29}, "birthday"),
        ({"month": 4, "day": 31}, "birthday"),
        ({"month": 0, "day": 1}, "birthday.month"),
        ({"month": 1, "day": 0}, "birthday.day"),
        ({"month": 1, "day": 32}, "birthday.day"),
        ({"year": 0, "month": 1, "day": 1}, "birthday.year"),
        ({"year": 10000, "month": 1, "day": 1}, "birthday.year"),
        ({"month": 1}, "birthday.day"),
        ({"month": 1, "day": 1, "era": "CE"}, "birthday.era"),
    ]:
        yield put_contact(f"birthday {birthday}", {"birthday": birthday}, field)
    for code in ["UKR", "1A", "U"]:
        yield put_contact(
            f"country code {code}",
            {"addresses": [{"city": "Kyiv", "country_code": code}]},
            "addresses[0].country_code",
        )
    yield put_contact("empty address", {"addresses": [{"type": "home"}]}, "addresses[0]")
    yield put_contact(
        "messenger without protocol", {"messengers": [{"username": "x"}]}, "messengers[0].protocol"
    )
    yield put_contact(
        "messenger protocol with space",
        {"messengers": [{"protocol": "my app", "username": "x"}]},
        "messengers[0].protocol",
    )
    yield put_contact("body id differs from URL", {"id": "other"}, "id")


def bad_encodings() -> Iterator[Case]:
    bodies = {
        "latin-1": '{"given_name": "Ольга"}'.encode("cp1251"),
        "utf-16": '{"given_name": "x"}'.encode("utf-16"),
        "lone continuation byte": b'{"given_name": "\x80"}',
        "overlong slash": b'{"given_name": "\xc0\xaf"}',
        "truncated sequence": b'{"given_name": "\xe2\x82"}',
        "encoded surrogate": b'{"given_name": "\xed\xa0\x80"}',
        "invalid byte 0xff": b'\xff{"given_name": "x"}',
        "truncated json": b'{"given_name": "x"',
        "trailing comma": b'{"given_name": "x",}',
        "single quotes": b"{'given_name': 'x'}",
        "NaN": b'{"birthday": {"month": NaN, "day": 1}}',
        "Infinity": b'{"birthday": {"month": Infinity, "day": 1}}',
        "empty body": b"",
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "huge integer": b'{"birthday": {"month": 1' + b"0" * 5000 + b', "day": 1}}',
    }
    for label, body in bodies.items():
        for method, path in [
            ("PUT", "/contacts/stable-1"),
            ("POST", "/contacts:batchUpsert"),
            ("POST", "/lists/stable-list/members:add"),
        ]:
            yield Case(f"{label} to {path}", method, path, body, "body")
    yield Case(
        "form instead of JSON",
        "PUT",
        "/contacts/stable-1",
        b"given_name=x",
        "Content-Type",
        "application/x-www-form-urlencoded",
    )
    yield Case(
        "text instead of JSON",
        "POST",
        "/contacts:batchUpsert",
        b'{"contacts": []}',
        "Content-Type",
        "text/plain",
    )


def huge_bodies() -> Iterator[Case]:
    limit = 16 * 1024 * 1024
    notes = "x" * (limit + 10)
    yield Case("17 MB contact", "PUT", "/contacts/stable-1", js({"notes": notes}), "body")
    yield Case(
        "17 MB batch",
        "POST",
        "/contacts:batchUpsert",
        js({"contacts": [{"id": "a", "notes": notes}]}),
        "body",
    )


def duplicates() -> Iterator[Case]:
    yield batch("same id twice", [{"id": "d1"}, {"id": "d1", "given_name": "x"}], "contacts[0].id")
    yield batch("existing id twice", [{"id": "stable-1"}, {"id": "stable-1"}], "contacts[0].id")
    yield batch("id three times", [{"id": "d1"}] * 3, "contacts[0].id")
    yield Case(
        "delete same id twice",
        "POST",
        "/contacts:batchDelete",
        js({"ids": ["stable-1", "stable-1"]}),
        "ids[0]",
    )
    yield Case(
        "add same member twice",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": ["stable-2", "stable-2"]}),
        "contact_ids[0]",
    )
    yield Case(
        "remove same member twice",
        "POST",
        "/lists/stable-list/members:remove",
        js({"contact_ids": ["stable-1", "stable-1"]}),
        "contact_ids[0]",
    )


def unknown_and_foreign_ids() -> Iterator[Case]:
    for method, path, body in [
        ("GET", "/lists/no-such-list", None),
        ("DELETE", "/lists/no-such-list", None),
        ("GET", "/lists/no-such-list/members", None),
        ("POST", "/lists/no-such-list/members:add", js({"contact_ids": ["stable-1"]})),
        ("POST", "/lists/no-such-list/members:remove", js({"contact_ids": ["stable-1"]})),
        ("GET", "/lists/foreign-list", None),
        ("DELETE", "/lists/foreign-list", None),
        ("GET", "/lists/foreign-list/members", None),
        ("POST", "/lists/foreign-list/members:add", js({"contact_ids": ["stable-1"]})),
        ("POST", "/lists/foreign-list/members:remove", js({"contact_ids": ["foreign-1"]})),
    ]:
        yield Case(f"{method} {path}", method, path, body, "list_id")
    for method, path in [
        ("GET", "/contacts/no-such"),
        ("DELETE", "/contacts/no-such"),
        ("GET", "/contacts/foreign-1"),
        ("DELETE", "/contacts/foreign-1"),
    ]:
        yield Case(f"{method} {path}", method, path, None, "id")
    yield Case(
        "add unknown contact",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": ["no-such"]}),
        "contact_ids[0]",
    )
    yield Case(
        "add foreign contact",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": ["foreign-1"]}),
        "contact_ids[0]",
    )
    yield Case(
        "remove foreign contact",
        "POST",
        "/lists/stable-list/members:remove",
        js({"contact_ids": ["foreign-1"]}),
        "contact_ids[0]",
    )
    yield Case(
        "delete foreign contacts",
        "POST",
        "/contacts:batchDelete",
        js({"ids": ["foreign-1", "foreign-2"]}),
        "ids[0]",
    )
    yield Case(
        "add deleted contact",
        "POST",
        "/lists/stable-list/members:add",
        js({"contact_ids": ["gone-1"]}),
        "contact_ids[0]",
    )
    for name, values in [
        ("limit", ["-1", "0", "abc", "501", "1e3", "٣"]),
        ("cursor", ["-1", "abc", "1e3", "٣", "9" * 19, str(2**31)]),
    ]:
        for value in values:
            yield Case(f"{name}={value}", "GET", f"/contacts?{name}={value}", None, name)


KINDS = {
    "wrong_types": wrong_types,
    "missing_ids": missing_ids,
    "oversized": oversized,
    "bad_characters": bad_characters,
    "bad_values": bad_values,
    "bad_encodings": bad_encodings,
    "huge_bodies": huge_bodies,
    "duplicates": duplicates,
    "unknown_and_foreign_ids": unknown_and_foreign_ids,
}


def test_the_corpus_has_at_least_200_cases() -> None:
    assert sum(len(list(kind())) for kind in KINDS.values()) >= 200


def snapshot() -> list[tuple[Any, ...]]:
    """Every CRM row in a canonical order (API keys excluded: they record their last use)."""
    db.session.expire_all()
    rows: list[tuple[Any, ...]] = []
    for model in (CrmContact, ContactList, ListMember, ListAccess, CrmSettings):
        table = model.__table__  # type: ignore[attr-defined]
        for row in db.session.execute(select(*table.columns).order_by(*table.primary_key.columns)):
            rows.append((model.__name__, *row))
    return rows


@pytest.fixture
def seeded(app: Flask, factory: Factory) -> Api:
    """An account with contacts and a list, and another account whose ids must stay out of reach."""
    api = make_api(app, factory.account("Acme"))
    other = make_api(app, factory.account("Other"))
    for target, prefix, list_id in [(api, "stable", "stable-list"), (other, "foreign", "foreign-list")]:
        assert target.put(f"/lists/{list_id}", {"name": "Customers"}).status_code == 201
        for n in (1, 2):
            payload = {"given_name": "Олена", "emails": [{"value": f"{prefix}{n}@example.com"}]}
            assert target.put(f"/contacts/{prefix}-{n}", payload).status_code == 201
        assert (
            target.post(f"/lists/{list_id}/members:add", {"contact_ids": [f"{prefix}-1"]}).status_code == 200
        )
    assert api.put("/contacts/gone-1", {"given_name": "Gone"}).status_code == 201
    assert api.delete("/contacts/gone-1").status_code == 200
    return api


@pytest.mark.parametrize("kind", list(KINDS))
def test_malformed_requests_get_a_4xx_naming_the_field_and_change_nothing(seeded: Api, kind: str) -> None:
    problems = []
    for case in KINDS[kind]():
        before = snapshot()
        response = seeded.raw(case.method, case.path, case.body or b"", case.content_type)
        after = snapshot()
        body = response.get_json(silent=True) or {}
        error = body.get("error", {})
        if not 400 <= response.status_code < 500:
            problems.append(f"{case.label}: status {response.status_code}")
        elif case.field and error.get("field") != case.field:
            problems.append(f"{case.label}: field {error.get('field')!r}, expected {case.field!r} ({error})")
        elif not error.get("message"):
            problems.append(f"{case.label}: no message")
        if before != after:
            problems.append(f"{case.label}: stored data changed")
    assert not problems, "\n".join(problems)
