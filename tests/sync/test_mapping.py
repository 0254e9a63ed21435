"""Field mapping: CRM contact → Person fields GroupSync owns, limits reported, hash stable."""

from __future__ import annotations

import copy

import pytest

from app.crm.values import Birthday, ContactData, Messenger, PostalAddress, TypedValue
from app.sync.mapping import (
    CRM_ID_KEY,
    MARKER_KEY,
    MAX_NOTES,
    MAX_TEXT,
    OWNED_FIELDS,
    UPDATE_MASK,
    field_hash,
    map_contact,
    read_tag,
)

FULL = ContactData(
    crm_id="c-1",
    prefix="Dr.",
    given_name="Олена",
    middle_name="Петрівна",
    family_name="Коваль",
    suffix="PhD",
    job_title="Head of Sales",
    company="Acme",
    emails=(TypedValue("olena@example.test", "work"), TypedValue("o@example.test", "home")),
    phones=(TypedValue("+380441234567", "mobile"),),
    birthday=Birthday(month=2, day=29),
    notes="Met at the fair.\nLikes tea.",
    addresses=(PostalAddress(type="work", street="Khreshchatyk 1", city="Kyiv", country_code="ua"),),
    messengers=(
        Messenger("telegram", "olena_k"),
        Messenger("skype", "olena.k"),
        Messenger("xmpp", "o@j.test"),
    ),
    urls=(TypedValue("https://linkedin.example/olena", "profile"),),
)


def test_every_owned_field_is_mapped_in_person_shape() -> None:
    mapped = map_contact(FULL)

    assert set(mapped.fields) == set(OWNED_FIELDS)
    assert mapped.fields["names"] == [
        {
            "honorificPrefix": "Dr.",
            "givenName": "Олена",
            "middleName": "Петрівна",
            "familyName": "Коваль",
            "honorificSuffix": "PhD",
        }
    ]
    assert mapped.fields["organizations"] == [{"name": "Acme", "title": "Head of Sales"}]
    assert mapped.fields["emailAddresses"][1] == {"value": "o@example.test", "type": "home"}
    assert mapped.fields["phoneNumbers"] == [{"value": "+380441234567", "type": "mobile"}]
    assert mapped.fields["birthdays"] == [{"date": {"month": 2, "day": 29}}]
    assert mapped.fields["biographies"] == [
        {"value": "Met at the fair.\nLikes tea.", "contentType": "TEXT_PLAIN"}
    ]
    assert mapped.fields["addresses"] == [
        {"type": "work", "streetAddress": "Khreshchatyk 1", "city": "Kyiv", "countryCode": "UA"}
    ]
    assert mapped.fields["imClients"] == [
        {"username": "olena_k", "protocol": "telegram"},
        {"username": "olena.k", "protocol": "skype"},
        {"username": "o@j.test", "protocol": "jabber"},
    ]
    assert mapped.fields["urls"] == [{"value": "https://linkedin.example/olena", "type": "profile"}]
    assert mapped.not_carried == ()


def test_one_name_biography_and_birthday_at_most() -> None:
    fields = map_contact(FULL).fields
    assert len(fields["names"]) == len(fields["biographies"]) == len(fields["birthdays"]) == 1


def test_birthday_keeps_year_when_known() -> None:
    mapped = map_contact(ContactData(crm_id="b", birthday=Birthday(month=7, day=1, year=1980)))
    assert mapped.fields["birthdays"] == [{"date": {"year": 1980, "month": 7, "day": 1}}]


def test_create_body_carries_tag_and_only_groupsyncs_group() -> None:
    body = map_contact(FULL).create_body("contactGroups/abc", "tag-1")

    assert body["memberships"] == [
        {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/abc"}}
    ]
    assert {"key": MARKER_KEY, "value": "tag-1"} in body["clientData"]
    assert {"key": CRM_ID_KEY, "value": "c-1"} in body["clientData"]
    assert read_tag(body) == ("tag-1", "c-1")


def test_update_body_has_owned_fields_only_and_mask_names_them_all() -> None:
    body = map_contact(FULL).update_body()
    assert set(body) <= set(OWNED_FIELDS)
    assert "clientData" not in body
    assert "memberships" not in body
    assert UPDATE_MASK.split(",") == list(OWNED_FIELDS)


def test_typed_values_are_trimmed_and_keep_tabs_and_non_ascii_text() -> None:
    mapped = map_contact(
        ContactData(
            crm_id="x",
            emails=(TypedValue("  ann@example.test ", " work "), TypedValue("   ", "home")),
            phones=(TypedValue("+380 44\t123", ""),),
            urls=(TypedValue("https://приклад.укр/", "profile"),),
        )
    )
    assert mapped.fields["emailAddresses"] == [{"value": "ann@example.test", "type": "work"}]
    assert mapped.fields["phoneNumbers"] == [{"value": "+380 44\t123"}]
    assert mapped.fields["urls"] == [{"value": "https://приклад.укр/", "type": "profile"}]
    assert mapped.not_carried == ()


def test_empty_fields_are_left_out_so_the_mask_clears_them() -> None:
    mapped = map_contact(ContactData(crm_id="x", given_name="Ann"))
    assert mapped.fields == {"names": [{"givenName": "Ann"}]}


@pytest.mark.parametrize(
    ("contact", "field", "reason_part"),
    [
        (ContactData(crm_id="x", company="A" * (MAX_TEXT + 1)), "organization.name", "longer than"),
        (ContactData(crm_id="x", given_name="bad\x07bell"), "name.givenName", "control characters"),
        (ContactData(crm_id="x", birthday=Birthday(month=2, day=30)), "birthday", "calendar date"),
        (ContactData(crm_id="x", messengers=(Messenger("", "nick"),)), "messengers[0]", "messenger"),
        (
            ContactData(
                crm_id="x", emails=(TypedValue("ok@example.test"), TypedValue("a" * 3000 + "@x.test"))
            ),
            "emails[1].value",
            "longer than",
        ),
        (ContactData(crm_id="x", phones=(TypedValue("+380\x0744", "mobile"),)), "phones[0].value", "control"),
        (ContactData(crm_id="x", urls=(TypedValue("https://x.test", "we\x1bb"),)), "urls[0].type", "control"),
    ],
)
def test_what_google_cannot_take_is_reported_not_dropped_silently(
    contact: ContactData, field: str, reason_part: str
) -> None:
    mapped = map_contact(contact)
    assert [nc.field for nc in mapped.not_carried] == [field]
    assert reason_part in mapped.not_carried[0].reason


def test_too_long_notes_are_cut_and_reported() -> None:
    mapped = map_contact(ContactData(crm_id="x", notes="n" * (MAX_NOTES + 10)))
    assert mapped.fields["biographies"][0]["value"] == "n" * MAX_NOTES
    assert mapped.not_carried[0].field == "notes"
    assert str(MAX_NOTES) in mapped.not_carried[0].reason


def test_bad_value_drops_only_that_value() -> None:
    mapped = map_contact(
        ContactData(crm_id="x", phones=(TypedValue("+1 555 0100", "work"), TypedValue("\x00", "home")))
    )
    assert mapped.fields["phoneNumbers"] == [{"value": "+1 555 0100", "type": "work"}]
    assert len(mapped.not_carried) == 1


def test_hash_ignores_googles_formatting_and_output_only_fields() -> None:
    mapped = map_contact(FULL)
    google_copy = copy.deepcopy(dict(mapped.fields))
    google_copy["resourceName"] = "people/c1"
    google_copy["etag"] = "%EgUBAgMELg=="
    google_copy["names"][0]["displayName"] = "Dr. Олена Петрівна Коваль, PhD"
    google_copy["names"][0]["metadata"] = {"primary": True, "source": {"type": "CONTACT", "id": "1"}}
    google_copy["phoneNumbers"][0]["canonicalForm"] = "+380441234567"
    google_copy["phoneNumbers"][0]["formattedType"] = "Mobile"
    google_copy["emailAddresses"][0]["type"] = "Work"
    google_copy["biographies"][0].pop("contentType")
    google_copy["addresses"][0]["formattedValue"] = "Khreshchatyk 1\nKyiv\nUA"
    google_copy["imClients"][0]["formattedProtocol"] = "Telegram"
    google_copy["memberships"] = [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/x"}}]
    google_copy["photos"] = [{"url": "https://example.test/p.jpg"}]

    assert field_hash(google_copy) == mapped.field_hash


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("names", lambda p: p["names"][0].update(givenName="Olena")),
        ("emailAddresses", lambda p: p["emailAddresses"].reverse()),
        ("phoneNumbers", lambda p: p["phoneNumbers"].append({"value": "+1 555 0100"})),
        ("birthdays", lambda p: p["birthdays"][0]["date"].update(year=1990)),
        ("biographies", lambda p: p.pop("biographies")),
    ],
)
def test_hash_changes_when_an_owned_value_changes(field: str, change: object) -> None:
    mapped = map_contact(FULL)
    edited = copy.deepcopy(dict(mapped.fields))
    change(edited)  # type: ignore[operator]
    assert field_hash(edited) != mapped.field_hash, field


def test_hash_is_stable_for_equal_contacts_and_unicode_normal_forms() -> None:
    composed = ContactData(crm_id="x", given_name="Zoë")
    decomposed = ContactData(crm_id="x", given_name="Zoe\u0308")
    assert map_contact(composed).field_hash == map_contact(decomposed).field_hash


def test_read_tag_rejects_untagged_and_partial_tags() -> None:
    assert read_tag({}) is None
    assert read_tag({"clientData": [{"key": MARKER_KEY, "value": "t"}]}) is None
    assert (
        read_tag({"clientData": [{"key": "other", "value": "t"}, {"key": CRM_ID_KEY, "value": "1"}]}) is None
    )


def test_hashes_stored_by_earlier_versions_stay_valid() -> None:
    # Taken by the generic mapping that json.dumps'ed the projection: a change of the hash's
    # bytes would make every synced contact look edited and rewrite it at the next repair run.
    assert map_contact(FULL).field_hash == "1787d9af4bd0b7787aba5c3acfba8a935b375fcfd003fd86ac1361c8138e077a"
    long_notes = ContactData(crm_id="x", given_name="Zoë", notes="é" * 3000)
    assert map_contact(long_notes).field_hash == (
        "a3bf2c01bb69cd49575f74c6d4e778570bc8e03d71e5c7eb009ce22c59b57df3"
    )


MESSY = [
    "",
    " ",
    " Zoe\u0308 ",
    "x\x00y",
    "Work",
    "HOME",
    "ua",
    "UA",
    "Олена",
    "n\nm",
    "a" * 3000,
    "Telegram",
]


@pytest.mark.parametrize("value", MESSY)
def test_the_hash_mapping_computes_is_that_of_its_own_fields(value: str) -> None:
    contact = ContactData(
        crm_id="x",
        given_name=value,
        family_name="Коваль",
        company=value,
        emails=(TypedValue(value, value), TypedValue("a@example.test", value)),
        phones=(TypedValue("+380441234567", value),),
        notes=value,
        addresses=(PostalAddress(type=value, city="Kyiv", country_code=value),),
        messengers=(Messenger(value, "olena"), Messenger("skype", value)),
        urls=(TypedValue("https://example.test", value),),
    )
    mapped = map_contact(contact)
    # The steps hash a projection built beside the fields; Google's copy is hashed from the fields.
    assert mapped.field_hash == field_hash(mapped.fields) == field_hash(mapped.update_body())
