"""Field rules of CRM input, checked without a database."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import refresh
from jsonschema import Draft202012Validator

from app.crm.openapi import openapi_document
from app.crm.validation import InputError, check_region, contact_input_schema, validate_contact
from app.crm.values import Birthday, Messenger, PostalAddress, TypedValue
from app.extensions import shown_message


def errors_of(payload: object, region: str | None = None) -> list[tuple[str, str]]:
    with pytest.raises(InputError) as caught:
        validate_contact(payload, default_region=region)
    return [(e.field, e.message) for e in caught.value.errors]


def test_a_full_contact_is_normalised_and_unicode_kept_intact() -> None:
    data = validate_contact(
        {
            "id": "crm-1",
            "prefix": "Dr.",
            "given_name": "  Олена ",
            "family_name": "שָׁלוֹם",
            "suffix": "PhD",
            "job_title": "Директорка 👩🏽‍💼",
            "company": "Нова Пошта",
            "emails": [{"value": "Olena@Example.COM", "type": "work"}],
            "phones": [{"value": "+380 (44) 123-45-67", "type": "mobile"}, {"value": "044 765 4321"}],
            "birthday": {"month": 2, "day": 29},
            "notes": "Перший рядок\nSecond line\twith a tab",
            "addresses": [
                {"type": "work", "street": "вул. Хрещатик, 1", "city": "Київ", "country_code": "ua"}
            ],
            "messengers": [{"protocol": "Telegram", "username": "@olena"}],
            "urls": [{"value": "https://example.com/профіль", "type": "profile"}],
        },
        default_region="UA",
    )
    assert data.given_name == "Олена"
    assert data.family_name == "שָׁלוֹם"
    assert data.job_title == "Директорка 👩🏽‍💼"
    assert data.emails == (TypedValue("Olena@example.com", "work"),)
    assert data.phones == (TypedValue("+380441234567", "mobile"), TypedValue("+380447654321", ""))
    assert data.birthday == Birthday(month=2, day=29, year=None)
    assert data.notes == "Перший рядок\nSecond line\twith a tab"
    assert data.addresses == (
        PostalAddress(type="work", street="вул. Хрещатик, 1", city="Київ", country_code="UA"),
    )
    assert data.messengers == (Messenger("telegram", "@olena"),)
    assert data.urls == (TypedValue("https://example.com/профіль", "profile"),)


def test_a_phone_without_a_known_region_is_kept_as_given() -> None:
    data = validate_contact({"id": "a", "phones": [{"value": "(044) 123-45-67"}]}, default_region=None)
    assert data.phones == (TypedValue("(044) 123-45-67", ""),)


def test_a_leading_plus_is_normalised_even_without_a_region() -> None:
    data = validate_contact({"id": "a", "phones": [{"value": "+44 20 7946 0958"}]}, default_region=None)
    assert data.phones == (TypedValue("+442079460958", ""),)


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({"given_name": "x"}, "id", "required"),
        ({"id": ""}, "id", "1-128 characters"),
        ({"id": "a/b"}, "id", "1-128 characters"),
        ({"id": 7}, "id", "must be a string"),
        ({"id": "a", "given_name": "a\x00b"}, "given_name", "control character (U+0000)"),
        ({"id": "a", "given_name": "line\nbreak"}, "given_name", "control character (U+000A)"),
        ({"id": "a", "notes": "bell\x07"}, "notes", "control character (U+0007)"),
        ({"id": "a", "family_name": "\ud800"}, "family_name", "unpaired surrogate"),
        ({"id": "a", "company": "x" * 201}, "company", "at most 200"),
        ({"id": "a", "notes": "x" * 2049}, "notes", "at most 2048"),
        ({"id": "a", "emails": [{"value": "not-an-address"}]}, "emails[0].value", "not a valid e-mail"),
        ({"id": "a", "emails": [{"type": "work"}]}, "emails[0].value", "required"),
        (
            {"id": "a", "emails": [{"value": "a@example.com", "kind": "x"}]},
            "emails[0].kind",
            "not a known field",
        ),
        ({"id": "a", "emails": [{"value": "a@example.com"}] * 21}, "emails", "at most 20"),
        ({"id": "a", "emails": "a@example.com"}, "emails", "must be an array"),
        ({"id": "a", "phones": [{"value": "call me"}]}, "phones[0].value", "not a phone number"),
        ({"id": "a", "phones": [{"value": "+1"}]}, "phones[0].value", "phone number"),
        ({"id": "a", "urls": [{"value": "javascript:alert(1)"}]}, "urls[0].value", "http"),
        ({"id": "a", "urls": [{"value": "ftp://example.com/x"}]}, "urls[0].value", "http"),
        ({"id": "a", "urls": [{"value": "https://exa mple.com"}]}, "urls[0].value", "without spaces"),
        ({"id": "a", "birthday": {"month": 2, "day": 30}}, "birthday", "not a date"),
        ({"id": "a", "birthday": {"year": 2023, "month": 2, "day": 29}}, "birthday", "not a date"),
        ({"id": "a", "birthday": {"month": 13, "day": 1}}, "birthday.month", "between 1 and 12"),
        ({"id": "a", "birthday": {"day": 1}}, "birthday.month", "required"),
        ({"id": "a", "birthday": {"month": "1", "day": 1}}, "birthday.month", "whole number"),
        ({"id": "a", "birthday": {"month": True, "day": 1}}, "birthday.month", "whole number"),
        ({"id": "a", "birthday": "1990-01-01"}, "birthday", "must be an object"),
        ({"id": "a", "addresses": [{}]}, "addresses[0]", "is empty"),
        (
            {"id": "a", "addresses": [{"city": "Kyiv", "country_code": "UKR"}]},
            "addresses[0].country_code",
            "at most 2",
        ),
        (
            {"id": "a", "addresses": [{"city": "Kyiv", "country_code": "1A"}]},
            "addresses[0].country_code",
            "two-letter",
        ),
        ({"id": "a", "messengers": [{"protocol": "telegram"}]}, "messengers[0].username", "required"),
        (
            {"id": "a", "messengers": [{"protocol": "tele gram", "username": "x"}]},
            "messengers[0].protocol",
            "name",
        ),
        ({"id": "a", "nickname": "x"}, "nickname", "not a known field"),
        ([], "body", "must be a JSON object"),
    ],
)
def test_each_bad_field_is_named(payload: object, field: str, fragment: str) -> None:
    found = errors_of(payload)
    assert any(f == field and fragment in m for f, m in found), found


def test_a_wrong_region_number_is_refused_when_the_region_is_known() -> None:
    assert errors_of({"id": "a", "phones": [{"value": "12"}]}, region="UA")[0][0] == "phones[0].value"


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = errors_of({"id": "a", "given_name": 5, "emails": [{"value": "x"}], "urls": [{"value": "y"}]})
    assert [f for f, _ in found] == ["given_name", "emails[0].value", "urls[0].value"]


def test_region_setting_is_checked() -> None:
    assert check_region(" ua ") == "UA"
    with pytest.raises(InputError):
        check_region("XX")


def test_the_published_schema_carries_the_same_limits() -> None:
    schema = contact_input_schema()
    assert schema["properties"]["notes"]["maxLength"] == 2048
    assert schema["properties"]["emails"]["maxItems"] == 20
    assert schema["properties"]["emails"]["items"]["properties"]["value"]["maxLength"] == 254
    assert schema["additionalProperties"] is False


FULL_CONTACT = {
    "id": "crm-1",
    "prefix": "Dr.",
    "given_name": "Олена",
    "family_name": "Коваленко",
    "emails": [{"value": "olena@example.com", "type": "work"}],
    "phones": [{"value": "+380441234567", "type": "mobile"}],
    "birthday": {"year": None, "month": 2, "day": 29},
    "notes": "Line one\nline two",
    "addresses": [{"type": "home", "street": "вул. Хрещатик, 1", "city": "Київ", "country_code": "UA"}],
    "messengers": [{"protocol": "signal", "username": "+380441234567"}],
    "urls": [{"value": "https://example.com", "type": "homePage"}],
}


def test_the_published_schemas_are_valid_json_schema_and_agree_with_the_validator() -> None:
    for schema in openapi_document()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    published = Draft202012Validator(contact_input_schema())
    validate_contact(FULL_CONTACT, default_region=None)
    assert published.is_valid(FULL_CONTACT)
    for bad in (
        {**FULL_CONTACT, "nickname": "x"},
        {**FULL_CONTACT, "emails": [{"value": "a@example.com"}] * 21},
        {**FULL_CONTACT, "notes": "x" * 2049},
        {**FULL_CONTACT, "birthday": {"month": 13, "day": 1}},
        {**FULL_CONTACT, "id": "a/b"},
    ):
        assert not published.is_valid(bad)
        with pytest.raises(InputError):
            validate_contact(bad, default_region=None)


def test_a_field_error_is_english_for_the_api_and_stored_for_any_reader(app: Flask) -> None:
    with pytest.raises(InputError) as caught:
        validate_contact(
            {"id": "c1", "given_name": 5, "birthday": {"month": 13, "day": 1}}, default_region=None
        )
    first, second = caught.value.errors
    assert (first.message, second.message) == ("must be a string, not a number", "must be between 1 and 12")
    for language, expected in (
        ("uk", ["має бути рядком; отримано: число", "має бути від 1 до 12"]),
        ("ru", ["должно быть строкой; получено: число", "должно быть от 1 до 12"]),
        ("en", ["must be a string, not a number", "must be between 1 and 12"]),
    ):
        with app.test_request_context(headers={"Accept-Language": language}):
            refresh()  # the locale is cached on the test's application context
            assert [shown_message(e.stored()) for e in (first, second)] == expected
            # Asking for a language never changes the English text the API answers with.
            assert first.message == "must be a string, not a number"
