"""CRM contact → Google ``Person``, for exactly the fields GroupSync owns. Pure: no I/O, no clock.

GroupSync owns the Person fields the contact field table (:mod:`app.contact_fields`) names
(:data:`OWNED_FIELDS`). Updates replace those and nothing else, so what the user adds in Google
outside them (photos, labels, custom fields) survives. Text fields are mapped from the table
alone; each other kind of field has its mapper in :data:`MAPPERS`.
``clientData`` is written once, at creation: it carries the tag that lets GroupSync recognise
its own contacts (and adopt them after an ambiguous create) and is never rewritten.

Whatever Google cannot hold is reported as :class:`NotCarried`, never dropped silently.
Google publishes no per-field length limits; :data:`MAX_TEXT` and :data:`MAX_NOTES` match the
conservative limits the CRM side validates against (``app.crm.validation``), so they only
bite for data that reached GroupSync some other way.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

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
from app.google.fields import OWNED_FIELDS

UPDATE_MASK = ",".join(OWNED_FIELDS)

MARKER_KEY = "groupsync"
"""clientData key whose value names the sync a contact belongs to (``sync:<id>``)."""
CRM_ID_KEY = "groupsync.crm_id"
"""clientData key holding the CRM's id of the contact."""

MAX_TEXT = 2048
MAX_NOTES = 2048
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; line breaks and tabs are fine.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Protocols Google lists for imClients; anything else goes as a custom protocol string.
_GOOGLE_IM_PROTOCOLS = {
    "aim": "aim",
    "msn": "msn",
    "yahoo": "yahoo",
    "skype": "skype",
    "qq": "qq",
    "googletalk": "googleTalk",
    "hangouts": "googleTalk",
    "icq": "icq",
    "jabber": "jabber",
    "xmpp": "jabber",
    "netmeeting": "netMeeting",
}

_ADDRESS_KEYS: Final = (
    "type",
    "streetAddress",
    "extendedAddress",
    "poBox",
    "city",
    "region",
    "postalCode",
    "country",
    "countryCode",
)
_KEYS_BY_KIND: Final[Mapping[Kind, tuple[str, ...]]] = {
    Kind.EMAILS: ("value", "type"),
    Kind.PHONES: ("value", "type"),
    Kind.URLS: ("value", "type"),
    Kind.BIRTHDAY: ("date",),
    Kind.ADDRESSES: _ADDRESS_KEYS,
    Kind.MESSENGERS: ("username", "protocol"),
}
_TEXT_GROUPS: Final[Mapping[str, tuple[FieldSpec, ...]]] = {
    person_field: tuple(s for s in CONTACT_FIELDS if s.kind is Kind.TEXT and s.person_field == person_field)
    for person_field in dict.fromkeys(s.person_field for s in CONTACT_FIELDS if s.kind is Kind.TEXT)
}
"""Person field -> the CRM text fields written into its single entry (``names``: five of them)."""
# The keys GroupSync writes inside each owned field: the hash looks at these only, so Google's
# output-only additions (formattedType, canonicalForm, displayName, metadata) never matter.
# A biography's contentType is left out: Google reports TEXT_PLAIN whether or not it was sent.
_WRITTEN_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    spec.person_field: (
        tuple(s.person_key for s in _TEXT_GROUPS[spec.person_field])
        if spec.kind is Kind.TEXT
        else _KEYS_BY_KIND[spec.kind]
    )
    for spec in CONTACT_FIELDS
}
_ENTRY_EXTRAS: Final[Mapping[str, Mapping[str, str]]] = {"biographies": {"contentType": "TEXT_PLAIN"}}
"""Constant keys an entry of that Person field is sent with."""
# Values Google may re-case on its side without changing their meaning.
_CASE_INSENSITIVE = {"type", "protocol", "countryCode"}


@dataclass(frozen=True, slots=True)
class NotCarried:
    """One CRM value that Google will not receive, and why (shown on the sync-health page)."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class MappedContact:
    crm_id: str
    fields: Mapping[str, list[dict[str, Any]]]
    """The owned fields with at least one value, in Person shape."""
    field_hash: str
    not_carried: tuple[NotCarried, ...]

    def create_body(self, group_resource_name: str, sync_tag: str) -> dict[str, Any]:
        """The ``contactPerson`` of a create: owned fields, GroupSync's tag, and its group only."""
        return {
            **self.fields,
            "clientData": tag_client_data(sync_tag, self.crm_id),
            "memberships": [{"contactGroupMembership": {"contactGroupResourceName": group_resource_name}}],
        }

    def update_body(self) -> dict[str, Any]:
        """Owned fields only; with :data:`UPDATE_MASK`, an owned field absent here is cleared."""
        return dict(self.fields)


def tag_client_data(sync_tag: str, crm_id: str) -> list[dict[str, str]]:
    return [{"key": MARKER_KEY, "value": sync_tag}, {"key": CRM_ID_KEY, "value": crm_id}]


def read_tag(person: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(sync_tag, crm_id)`` if the person carries GroupSync's tag, else ``None``."""
    values = {
        entry.get("key"): entry.get("value")
        for entry in person.get("clientData", ())
        if isinstance(entry, Mapping)
    }
    sync_tag, crm_id = values.get(MARKER_KEY), values.get(CRM_ID_KEY)
    if isinstance(sync_tag, str) and isinstance(crm_id, str) and sync_tag and crm_id:
        return sync_tag, crm_id
    return None


class _Collector:
    def __init__(self) -> None:
        self.not_carried: list[NotCarried] = []

    def text(self, field: str, value: str, limit: int = MAX_TEXT) -> str | None:
        """The value cleaned for Google, or ``None`` (reported) when Google cannot take it."""
        cleaned = _clean(value)
        if not cleaned:
            return ""
        if _CONTROL.search(cleaned):
            self.not_carried.append(NotCarried(field, "contains control characters"))
            return None
        if len(cleaned) > limit:
            self.not_carried.append(NotCarried(field, f"longer than {limit} characters ({len(cleaned)})"))
            return None
        return cleaned

    def entry(self, field: str, values: Mapping[str, str]) -> dict[str, str] | None:
        """Several text parts of one value; any part Google cannot take drops the whole value."""
        out: dict[str, str] = {}
        for key, raw in values.items():
            cleaned = self.text(f"{field}.{key}", raw)
            if cleaned is None:
                return None
            if cleaned:
                out[key] = cleaned
        return out


def map_contact(contact: ContactData) -> MappedContact:
    """The Person fields GroupSync writes for ``contact``, their hash, and what is not carried."""
    collect = _Collector()
    fields: dict[str, list[dict[str, Any]]] = {}
    for spec in CONTACT_FIELDS:
        if spec.kind is not Kind.TEXT:
            MAPPERS[spec.kind](collect, fields, spec, getattr(contact, spec.name))
        elif spec is _TEXT_GROUPS[spec.person_field][0]:
            _text_entry(collect, fields, spec.person_field, contact)
    return MappedContact(
        crm_id=contact.crm_id,
        fields=fields,
        field_hash=field_hash(fields),
        not_carried=tuple(collect.not_carried),
    )


def _text_entry(
    collect: _Collector, fields: dict[str, list[dict[str, Any]]], person_field: str, contact: ContactData
) -> None:
    """The one entry of a Person field made of CRM text fields (``names``, ``biographies``...)."""
    group = _TEXT_GROUPS[person_field]
    if len(group) > 1:
        # Reported as e.g. ``name.givenName``; any part Google cannot take drops the whole entry.
        label = person_field.removesuffix("s")
        entry = collect.entry(label, {s.person_key: getattr(contact, s.name) for s in group})
    else:
        (spec,) = group
        value = _clean(getattr(contact, spec.name))
        if spec.multiline and len(value) > MAX_NOTES:
            # Long free text is cut rather than dropped: its start is still worth having.
            message = f"only the first {MAX_NOTES} of {len(value)} characters are carried"
            collect.not_carried.append(NotCarried(spec.name, message))
            value = value[:MAX_NOTES]
        carried = collect.text(spec.name, value, limit=MAX_NOTES if spec.multiline else MAX_TEXT)
        entry = {spec.person_key: carried} if carried else None
    if entry:
        fields[person_field] = [{**entry, **_ENTRY_EXTRAS.get(person_field, {})}]


def _map_typed(
    collect: _Collector, fields: dict[str, list[dict[str, Any]]], spec: FieldSpec, values: Any
) -> None:
    _typed_values(collect, fields, spec.person_field, spec.name, values)


def _map_birthday(
    collect: _Collector, fields: dict[str, list[dict[str, Any]]], spec: FieldSpec, value: Any
) -> None:
    if value is None:
        return
    birthday = _birthday(value)
    if birthday is None:
        collect.not_carried.append(NotCarried(spec.name, "not a valid calendar date"))
    else:
        fields[spec.person_field] = [{"date": birthday}]


def _map_addresses(
    collect: _Collector, fields: dict[str, list[dict[str, Any]]], spec: FieldSpec, values: Any
) -> None:
    addresses = [a for a in (_address(collect, f"{spec.name}[{i}]", a) for i, a in enumerate(values)) if a]
    if addresses:
        fields[spec.person_field] = addresses


def _map_messengers(
    collect: _Collector, fields: dict[str, list[dict[str, Any]]], spec: FieldSpec, values: Any
) -> None:
    messengers = [m for m in (_messenger(collect, f"{spec.name}[{i}]", m) for i, m in enumerate(values)) if m]
    if messengers:
        fields[spec.person_field] = messengers


MAPPERS: Final[
    Mapping[Kind, Callable[[_Collector, dict[str, list[dict[str, Any]]], FieldSpec, Any], None]]
] = {
    Kind.EMAILS: _map_typed,
    Kind.PHONES: _map_typed,
    Kind.URLS: _map_typed,
    Kind.BIRTHDAY: _map_birthday,
    Kind.ADDRESSES: _map_addresses,
    Kind.MESSENGERS: _map_messengers,
}
"""How each kind of field other than text becomes its Person field's entries."""


def _typed_values(
    collect: _Collector,
    fields: dict[str, list[dict[str, Any]]],
    google_field: str,
    crm_field: str,
    values: Sequence[TypedValue],
) -> None:
    entries = [
        entry
        for index, typed in enumerate(values)
        if (entry := collect.entry(f"{crm_field}[{index}]", {"value": typed.value, "type": typed.type}))
        and entry.get("value")
    ]
    if entries:
        fields[google_field] = entries


def _birthday(birthday: Birthday) -> dict[str, int] | None:
    # 2000 is a leap year, so 29 February without a year stays valid.
    try:
        date(birthday.year or 2000, birthday.month, birthday.day)
    except ValueError:
        return None
    value = {"month": birthday.month, "day": birthday.day}
    if birthday.year:
        value["year"] = birthday.year
    return value


def _address(collect: _Collector, where: str, address: PostalAddress) -> dict[str, str] | None:
    entry = collect.entry(
        where,
        {
            "type": address.type,
            "streetAddress": address.street,
            "extendedAddress": address.extended,
            "poBox": address.po_box,
            "city": address.city,
            "region": address.region,
            "postalCode": address.postal_code,
            "country": address.country,
            "countryCode": address.country_code.upper(),
        },
    )
    if entry is None or set(entry) <= {"type"}:
        return None
    return entry


def _messenger(collect: _Collector, where: str, messenger: Messenger) -> dict[str, str] | None:
    protocol = _clean(messenger.protocol).lower()
    if not protocol:
        collect.not_carried.append(NotCarried(where, "no messenger name"))
        return None
    entry = collect.entry(
        where,
        {"username": messenger.username, "protocol": _GOOGLE_IM_PROTOCOLS.get(protocol, protocol)},
    )
    if entry is None or not entry.get("username"):
        return None
    return entry


def _clean(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def owned_projection(person: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The owned fields of a Person (ours or as Google returns it) reduced to what GroupSync writes."""
    projection: dict[str, list[dict[str, Any]]] = {}
    for field in OWNED_FIELDS:
        entries = [
            _project_entry(field, entry) for entry in person.get(field, ()) if isinstance(entry, Mapping)
        ]
        kept = [entry for entry in entries if entry]
        if kept:
            projection[field] = kept
    return projection


def _project_entry(field: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _WRITTEN_KEYS[field]:
        value = entry.get(key)
        if key == "date" and isinstance(value, Mapping):
            day = {k: int(v) for k, v in value.items() if k in {"year", "month", "day"} and v}
            if day:
                out[key] = day
        elif isinstance(value, str):
            cleaned = _clean(value)
            if cleaned:
                out[key] = cleaned.lower() if key in _CASE_INSENSITIVE else cleaned
    return out


def field_hash(person: Mapping[str, Any]) -> str:
    """A stable hash of the owned fields: equal exactly when Google holds what GroupSync would write."""
    canonical = json.dumps(
        owned_projection(person), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
