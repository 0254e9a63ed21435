"""The contact fields GroupSync carries, declared once each, and the value objects that hold them.

:class:`ContactData` *is* the field table: each attribute is declared on one line with
everything the rest of GroupSync needs about it — its kind and limits (validation and the
OpenAPI schema), the CSV header names it is recognised by (English, Ukrainian, Russian), the
People API ``Person`` field it is written to and the ledger's data category of that data.
:data:`CONTACT_FIELDS` lists those declarations; validation, the OpenAPI document, the CSV
import, the database columns and the row ↔ value conversion (``app.crm``), the Google mapping
(``app.sync.mapping``) and the owned Person fields with their ledger categories
(``app.google.fields``) are all derived from it, and none keeps a list of its own.

Adding a plain text field takes one :func:`text` line here, a migration for its column and the
lines users read ("Adding a contact field" in the README lists every step);
``tests/test_contact_fields.py`` fails if any consumer misses it. The other kinds (typed
values, birthday, addresses, messengers) each have code of their own in every consumer, keyed
by :class:`Kind`; that test fails too when one lacks it.

This module sits below ``app.crm``, ``app.sync`` and ``app.google`` so that all may import it;
it imports only the ledger's vocabulary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from app.ledger.events import DataCategory


class Kind(StrEnum):
    """How a field is shaped; every consumer handles each kind, the test checks none is missed."""

    TEXT = "text"
    EMAILS = "emails"
    PHONES = "phones"
    URLS = "urls"
    BIRTHDAY = "birthday"
    ADDRESSES = "addresses"
    MESSENGERS = "messengers"


@dataclass(frozen=True)
class CsvColumn:
    """A CSV mapping target and the header names that suggest it (compared case-insensitively).

    ``key`` is what the column fills inside its field: a value's type for e-mails, phones and
    URLs, the address part for addresses, the protocol for messengers; empty for text fields.
    """

    target: str
    key: str = ""
    en: tuple[str, ...] = ()
    uk: tuple[str, ...] = ()
    ru: tuple[str, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        return (*self.en, *self.uk, *self.ru)


@dataclass(frozen=True)
class FieldSpec:
    """One contact field as declared on :class:`ContactData`; ``name`` is the attribute's."""

    kind: Kind
    person_field: str
    """The People API ``Person`` field it is written to (several text fields may share one)."""
    category: DataCategory
    """The ledger's data category of what flows to Google for it."""
    csv: tuple[CsvColumn, ...]
    max_length: int = 0
    """Text: the field's limit; typed values: each value's."""
    multiline: bool = False
    description: str = ""
    person_key: str = "value"
    """Text: the key inside the Person field's single entry (``givenName``, ``title``...)."""
    type_description: str = ""
    """Typed values: what the ``type`` of each value may be."""
    searchable: bool = False
    """The admin UI's contact search looks in it."""
    name: str = ""


def _declare(spec: FieldSpec, default: Any) -> Any:
    # Returned as Any so that mypy takes the attribute's declared type, as with dataclasses.field.
    if callable(default):
        return dataclasses.field(default_factory=default, metadata={"spec": spec})
    return dataclasses.field(default=default, metadata={"spec": spec})


def text(
    max_length: int,
    person: tuple[str, str],
    category: DataCategory,
    *,
    en: tuple[str, ...] = (),
    uk: tuple[str, ...] = (),
    ru: tuple[str, ...] = (),
    multiline: bool = False,
    description: str = "",
    searchable: bool = False,
) -> Any:
    """A one-line (or ``multiline``) text field; ``person`` is ``(Person field, key in its entry)``.

    Its CSV target is the field's own name; ``en``/``uk``/``ru`` are further header names for it.
    """
    person_field, person_key = person
    spec = FieldSpec(
        Kind.TEXT,
        person_field,
        category,
        (CsvColumn("", "", en, uk, ru),),
        max_length=max_length,
        multiline=multiline,
        description=description,
        person_key=person_key,
        searchable=searchable,
    )
    return _declare(spec, "")


def structured(kind: Kind, person_field: str, category: DataCategory, *csv: CsvColumn, **more: Any) -> Any:
    """A field of one of the structured kinds; its code lives with each consumer's kind handlers."""
    default = None if kind is Kind.BIRTHDAY else tuple
    return _declare(FieldSpec(kind, person_field, category, csv, **more), default)


@dataclass(frozen=True, slots=True)
class TypedValue:
    """An e-mail address, phone number or URL with its kind (``work``, ``home``, ``profile``...)."""

    value: str
    type: str = ""


@dataclass(frozen=True, slots=True)
class Birthday:
    month: int
    day: int
    year: int | None = None


@dataclass(frozen=True, slots=True)
class PostalAddress:
    type: str = ""
    street: str = ""
    extended: str = ""
    po_box: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    country_code: str = ""


@dataclass(frozen=True, slots=True)
class Messenger:
    """A messenger handle; ``protocol`` is lower-case (``telegram``, ``whatsapp``, ``skype``...)."""

    protocol: str
    username: str


_C = DataCategory


@dataclass(frozen=True, slots=True)
class ContactData:
    """Everything GroupSync may carry to Google for one CRM contact: the field table.

    The sync planner and the Google mapping work on these, never on ORM rows, so they stay
    pure and testable without a database.
    """

    crm_id: str
    prefix: str = text(
        200,
        ("names", "honorificPrefix"),
        _C.NAMES,
        en=("title prefix", "honorific prefix"),
        uk=("звертання",),
        ru=("обращение",),
        description="Honorific prefix, e.g. Dr.",
    )
    given_name: str = text(
        200,
        ("names", "givenName"),
        _C.NAMES,
        en=("first name", "given name"),
        uk=("ім'я", "ім\u2019я", "ім\u02bcя"),  # the apostrophe as typed, as Word and as in the standard
        ru=("имя",),
        searchable=True,
    )
    middle_name: str = text(
        200,
        ("names", "middleName"),
        _C.NAMES,
        en=("middle name",),
        uk=("по батькові",),
        ru=("отчество",),
        searchable=True,
    )
    family_name: str = text(
        200,
        ("names", "familyName"),
        _C.NAMES,
        en=("last name", "surname", "family name"),
        uk=("прізвище",),
        ru=("фамилия",),
        searchable=True,
    )
    suffix: str = text(
        200,
        ("names", "honorificSuffix"),
        _C.NAMES,
        en=("honorific suffix",),
        uk=("суфікс",),
        ru=("суффикс",),
        description="Honorific suffix, e.g. Jr.",
    )
    job_title: str = text(
        200,
        ("organizations", "title"),
        _C.ORGANIZATIONS,
        en=("job title", "title", "position"),
        uk=("посада",),
        ru=("должность",),
    )
    company: str = text(
        200,
        ("organizations", "name"),
        _C.ORGANIZATIONS,
        en=("organization", "organisation"),
        uk=("компанія", "організація"),
        ru=("компания", "организация"),
        searchable=True,
    )
    emails: tuple[TypedValue, ...] = structured(
        Kind.EMAILS,
        "emailAddresses",
        _C.EMAIL_ADDRESSES,
        CsvColumn(
            "email_work",
            "work",
            en=("email", "e-mail", "work email"),
            uk=("електронна пошта", "ел. пошта"),
            ru=("электронная почта", "эл. почта"),
        ),
        CsvColumn("email_home", "home", en=("home email",), uk=("домашня пошта",), ru=("домашняя почта",)),
        CsvColumn("email_other", "other", en=("other email",), uk=("інша пошта",), ru=("другая почта",)),
        max_length=254,
        description="An e-mail address (syntax checked, no DNS lookup)",
        type_description="home, work, other...",
        searchable=True,
    )
    phones: tuple[TypedValue, ...] = structured(
        Kind.PHONES,
        "phoneNumbers",
        _C.PHONE_NUMBERS,
        CsvColumn(
            "phone_mobile",
            "mobile",
            en=("phone", "mobile", "mobile phone"),
            uk=("телефон", "мобільний", "мобільний телефон"),
            ru=("мобильный", "мобильный телефон"),
        ),
        CsvColumn("phone_work", "work", en=("work phone",), uk=("робочий телефон",), ru=("рабочий телефон",)),
        CsvColumn(
            "phone_home", "home", en=("home phone",), uk=("домашній телефон",), ru=("домашний телефон",)
        ),
        max_length=40,
        description=(
            "A phone number; normalised to E.164 when it starts with + or the account has a default region"
        ),
        type_description="mobile, home, work, main, other...",
    )
    birthday: Birthday | None = structured(  # noqa: RUF009 - returns a dataclasses.field
        Kind.BIRTHDAY,
        "birthdays",
        _C.BIRTHDAYS,
        CsvColumn(
            "birthday",
            en=("date of birth",),
            uk=("дата народження", "день народження"),
            ru=("дата рождения", "день рождения"),
        ),
    )
    notes: str = text(
        2048,
        ("biographies", "value"),
        _C.BIOGRAPHIES,
        en=("note",),
        uk=("примітки", "нотатки"),
        ru=("примечания", "заметки"),
        multiline=True,
    )
    addresses: tuple[PostalAddress, ...] = structured(
        Kind.ADDRESSES,
        "addresses",
        _C.ADDRESSES,
        CsvColumn(
            "street",
            "street",
            en=("address", "street address"),
            uk=("адреса", "вулиця"),
            ru=("адрес", "улица"),
        ),
        CsvColumn("city", "city", uk=("місто",), ru=("город",)),
        CsvColumn("region", "region", en=("state",), uk=("область",), ru=("область", "регион")),
        CsvColumn(
            "postal_code",
            "postal_code",
            en=("zip", "postcode", "postal code"),
            uk=("індекс",),
            ru=("индекс",),
        ),
        CsvColumn("country", "country", uk=("країна",), ru=("страна",)),
        CsvColumn("country_code", "country_code", uk=("код країни",), ru=("код страны",)),
    )
    messengers: tuple[Messenger, ...] = structured(
        Kind.MESSENGERS,
        "imClients",
        _C.IM_CLIENTS,
        CsvColumn("telegram", "telegram", uk=("телеграм",), ru=("телеграм",)),
        CsvColumn("whatsapp", "whatsapp", uk=("вотсап",), ru=("ватсап",)),
        CsvColumn("viber", "viber", uk=("вайбер",), ru=("вайбер",)),
        CsvColumn("signal", "signal", uk=("сигнал",), ru=("сигнал",)),
        CsvColumn("skype", "skype", uk=("скайп",), ru=("скайп",)),
    )
    urls: tuple[TypedValue, ...] = structured(
        Kind.URLS,
        "urls",
        _C.URLS,
        CsvColumn("url_homepage", "homePage", en=("website", "url", "homepage"), uk=("сайт",), ru=("сайт",)),
        CsvColumn("url_profile", "profile", en=("profile", "linkedin"), uk=("профіль",), ru=("профиль",)),
        max_length=2048,
        description="An http or https URL",
        type_description="homePage, profile, blog, linkedin...",
    )
    updated_at: datetime | None = None


def _collect() -> tuple[FieldSpec, ...]:
    specs = []
    for declared in dataclasses.fields(ContactData):
        spec = declared.metadata.get("spec")
        if spec is None:
            continue
        # A text field's CSV target is its own name.
        csv = tuple(dataclasses.replace(c, target=c.target or declared.name) for c in spec.csv)
        specs.append(dataclasses.replace(spec, name=declared.name, csv=csv))
    return tuple(specs)


CONTACT_FIELDS: Final[tuple[FieldSpec, ...]] = _collect()
"""Every declared field in declaration order (``crm_id`` and ``updated_at`` are not fields)."""

_SHOWN_NAME = ("givenName", "familyName")
"""The parts of a person's name that pages show (as Google Contacts lists a contact)."""


def shown_name(record: object) -> str:
    """``record``'s given and family name, as a page shows the person ("" when neither is set)."""
    parts = (getattr(record, spec.name, "") for spec in CONTACT_FIELDS if spec.person_key in _SHOWN_NAME)
    return " ".join(part for part in parts if part)
