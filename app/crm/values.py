"""Plain, validated value objects for CRM contacts, shared by the CRM domain and the sync engine.

The sync planner and the Google field mapping work on these, never on ORM rows, so they
stay pure and testable without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(frozen=True, slots=True)
class ContactData:
    """Everything GroupSync may carry to Google for one CRM contact."""

    crm_id: str
    prefix: str = ""
    given_name: str = ""
    middle_name: str = ""
    family_name: str = ""
    suffix: str = ""
    job_title: str = ""
    company: str = ""
    emails: tuple[TypedValue, ...] = ()
    phones: tuple[TypedValue, ...] = ()
    birthday: Birthday | None = None
    notes: str = ""
    addresses: tuple[PostalAddress, ...] = ()
    messengers: tuple[Messenger, ...] = ()
    urls: tuple[TypedValue, ...] = field(default=())
    updated_at: datetime | None = None
