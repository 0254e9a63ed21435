"""The contact field table is the only list of fields: every consumer covers every declared field.

A field declared in ``app/contact_fields.py`` and missed anywhere (database column, validation,
OpenAPI, CSV import, row conversion, Google mapping, owned Person fields, ledger category) fails
here, and so does a consumer that names fields on its own instead of reading the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from googleapiclient.discovery_cache import get_static_doc

from app.contact_fields import (
    CONTACT_FIELDS,
    Birthday,
    ContactData,
    FieldSpec,
    Kind,
    Messenger,
    PostalAddress,
    TypedValue,
)
from app.crm.csv_import import TARGETS, guess_mapping, import_rows, parse_csv
from app.crm.models import FIELD_COLUMNS, CrmContact, apply_contact_data, to_contact_data
from app.crm.openapi import openapi_document
from app.crm.services import contact_payload, get_contact
from app.crm.validation import validate_contact
from app.extensions import db
from app.google.fields import FIELD_CATEGORIES, OWNED_FIELDS
from app.ledger.events import DataCategory
from app.sync.mapping import UPDATE_MASK, map_contact, owned_projection
from tests.conftest import Factory

ROOT = Path(__file__).resolve().parent.parent

_SAMPLES: dict[Kind, Any] = {
    Kind.EMAILS: (TypedValue("olena@example.com", "work"),),
    Kind.PHONES: (TypedValue("+380441234567", "mobile"),),
    Kind.URLS: (TypedValue("https://example.com/olena", "profile"),),
    Kind.BIRTHDAY: Birthday(month=2, day=29, year=1988),
    Kind.ADDRESSES: (PostalAddress(type="home", street="Хрещатик, 1", city="Київ", country_code="UA"),),
    Kind.MESSENGERS: (Messenger("telegram", "olena_k"),),
}
"""A valid value of each structured kind; text fields get one made from their name."""


def _sample(spec: FieldSpec) -> Any:
    return f"{spec.name} — Олена" if spec.kind is Kind.TEXT else _SAMPLES[spec.kind]


FULL = ContactData(crm_id="c-1", **{spec.name: _sample(spec) for spec in CONTACT_FIELDS})
"""Every declared field filled in."""


def _person_schema() -> dict[str, Any]:
    doc = get_static_doc("people", "v1")
    assert doc is not None, "google-api-python-client no longer ships people.v1.json"
    parsed: dict[str, Any] = json.loads(doc)
    return parsed


def test_table_declares_each_field_once_with_a_kind_every_consumer_knows() -> None:
    names = [spec.name for spec in CONTACT_FIELDS]
    assert len(names) == len(set(names))
    assert set(names) == {f for f in ContactData.__dataclass_fields__ if f not in {"crm_id", "updated_at"}}
    assert {spec.kind for spec in CONTACT_FIELDS} <= set(Kind)
    assert set(_SAMPLES) == set(Kind) - {Kind.TEXT}, "give the new kind a sample value here"


def test_every_field_survives_the_api_the_database_row_and_back() -> None:
    payload = contact_payload(FULL)
    assert set(payload) == {"id", *(spec.name for spec in CONTACT_FIELDS)}
    assert validate_contact(payload, default_region=None) == FULL

    row = CrmContact(crm_id=FULL.crm_id)
    apply_contact_data(row, FULL)
    assert to_contact_data(row) == FULL


def test_every_field_has_its_own_database_columns() -> None:
    table_columns = set(CrmContact.__table__.c.keys())
    claimed = [column for spec in CONTACT_FIELDS for column in FIELD_COLUMNS[spec.name]]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= table_columns
    # Every other column is bookkeeping, not contact data: a field removed from the table
    # must take its column with it (by a migration).
    bookkeeping = {"id", "account_id", "crm_id", "search_text", "created_at", "updated_at"}
    bookkeeping |= {"deleted", "deleted_at", "deleted_by", "undo_until"}
    assert table_columns - set(claimed) == bookkeeping


def test_every_field_is_in_the_openapi_document() -> None:
    schemas = openapi_document()["components"]["schemas"]
    names = {spec.name for spec in CONTACT_FIELDS}
    assert set(schemas["ContactInput"]["properties"]) == {"id", *names}
    assert names <= set(schemas["Contact"]["properties"])
    assert names <= set(schemas["Contact"]["required"])


def test_every_field_has_csv_columns_named_in_english_ukrainian_and_russian() -> None:
    columns = [column for spec in CONTACT_FIELDS for column in spec.csv]
    assert all(spec.csv for spec in CONTACT_FIELDS)
    assert ("id", *(column.target for column in columns)) == TARGETS
    owner: dict[str, str] = {}
    for column in columns:
        assert column.uk, f"CSV column {column.target} has no Ukrainian header name"
        assert column.ru, f"CSV column {column.target} has no Russian header name"
        # The target's own name is the English header when no other is given.
        for alias in (column.target.replace("_", " "), *column.aliases):
            assert owner.setdefault(alias.casefold(), column.target) == column.target, alias
            assert guess_mapping([alias.upper()]) == [column.target], alias


_CELLS: dict[Kind, Any] = {
    Kind.TEXT: lambda key: "Олена",
    Kind.EMAILS: lambda key: f"{key}@example.com",
    Kind.PHONES: lambda key: "+380441234567",
    Kind.URLS: lambda key: f"https://example.com/{key}",
    Kind.BIRTHDAY: lambda key: "1988-02-29",
    Kind.ADDRESSES: lambda key: "UA" if key == "country_code" else "Київ",
    Kind.MESSENGERS: lambda key: f"{key}_olena",
}
"""A valid CSV cell for a column of each kind, given the column's key."""


def test_a_csv_column_for_every_target_fills_every_field(app: Flask, factory: Factory) -> None:
    account = factory.account()
    targets = [(spec, column) for spec in CONTACT_FIELDS for column in spec.csv]
    header = ",".join(["id", *(column.target for _, column in targets)])
    row = ",".join(["c-1", *(_CELLS[spec.kind](column.key) for spec, column in targets)])
    parsed = parse_csv(f"{header}\n{row}\n".encode())

    report = import_rows(db.session, account.id, parsed, guess_mapping(parsed.headers), "Everything")

    assert [(r.status, r.reason) for r in report.rows] == [("created", "")]
    stored = contact_payload(to_contact_data(get_contact(db.session, account.id, "c-1")))
    assert [spec.name for spec in CONTACT_FIELDS if not stored[spec.name]] == []
    typed = (Kind.EMAILS, Kind.PHONES, Kind.URLS)
    for spec, column in targets:
        if spec.kind in typed:
            assert column.key in {value["type"] for value in stored[spec.name]}, column.target


def test_every_field_reaches_a_person_field_the_people_api_accepts() -> None:
    doc = _person_schema()
    person = doc["schemas"]["Person"]["properties"]
    mask = doc["resources"]["people"]["methods"]["updateContact"]["parameters"]["updatePersonFields"]
    updatable = set(re.findall(r"\* (\w+)", mask["description"]))
    mapped = map_contact(FULL)

    assert set(OWNED_FIELDS) == {spec.person_field for spec in CONTACT_FIELDS}
    assert set(OWNED_FIELDS) <= updatable
    assert UPDATE_MASK.split(",") == list(OWNED_FIELDS)
    assert set(mapped.fields) == set(OWNED_FIELDS)
    assert mapped.not_carried == ()
    for field, entries in mapped.fields.items():
        item = doc["schemas"][person[field]["items"]["$ref"]]["properties"]
        for entry in entries:
            assert set(entry) <= set(item), f"{field} sends keys the People API does not know"
    for spec in CONTACT_FIELDS:
        if spec.kind is Kind.TEXT:
            (entry,) = mapped.fields[spec.person_field]
            assert entry[spec.person_key] == getattr(FULL, spec.name)
    assert owned_projection(mapped.fields) == owned_projection(mapped.update_body())


def test_every_person_field_has_one_ledger_category() -> None:
    assert set(FIELD_CATEGORIES) == set(OWNED_FIELDS)
    for spec in CONTACT_FIELDS:
        assert isinstance(spec.category, DataCategory)
        assert FIELD_CATEGORIES[spec.person_field] is spec.category, (
            f"{spec.name} shares {spec.person_field} with a field of another category"
        )


_CONSUMERS = [
    *sorted((ROOT / "app" / "crm").rglob("*.py")),
    ROOT / "app" / "sync" / "mapping.py",
    ROOT / "app" / "google" / "fields.py",
    ROOT / "app" / "google" / "people.py",
]


@pytest.mark.parametrize("path", _CONSUMERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_keeps_its_own_list_of_fields(path: Path) -> None:
    if path.name == "demo_data.py":
        pytest.skip("demo data writes contacts as a CRM would, by field name")
    source = path.read_text(encoding="utf-8")
    for spec in CONTACT_FIELDS:
        # A quoted name, or an attribute read (not a method call such as checker.birthday(...)).
        named = re.search(rf"""["'\[]{spec.name}["'\[]|\.{spec.name}\b(?!\()""", source)
        assert named is None, f"{path.name} names the field {spec.name}; read app.contact_fields instead"
