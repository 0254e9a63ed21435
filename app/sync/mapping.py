"""CRM contact → Google ``Person``, for exactly the fields GroupSync owns. Pure: no I/O, no clock.

GroupSync owns the Person fields the contact field table (:mod:`app.contact_fields`) names
(:data:`OWNED_FIELDS`). Updates replace those and nothing else, so what the user adds in Google
outside them (photos, labels, custom fields) survives. Text fields are mapped from the table
alone; each other kind of field has its step maker in :data:`STEP_MAKERS`. The table is
compiled once into per-field steps (:func:`_compile`), so mapping a contact runs no generic walk.
``clientData`` is written once, at creation: it carries the tag that lets GroupSync recognise
its own contacts (and adopt them after an ambiguous create) and is never rewritten.

Whatever Google cannot hold is reported as :class:`NotCarried`, never dropped silently.
Google publishes no per-field length limits; :data:`MAX_TEXT` and :data:`MAX_NOTES` match the
conservative limits the CRM side validates against (``app.crm.validation``), so they only
bite for data that reached GroupSync some other way.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any, Final

import orjson

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
_CONTROL_SEARCH = _CONTROL.search

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


_Entry = dict[str, Any]
_Fields = dict[str, list[_Entry]]
Step = Callable[[ContactData, _Fields, _Fields, list[NotCarried]], None]
"""One field's mapping: reads it from the contact, adds its Person entries and their projection
(the hash's shape, :func:`owned_projection`) and reports what Google cannot take."""


def _problem(cleaned: str, limit: int) -> str | None:
    """Why Google cannot take a cleaned, non-empty text; ``None`` when it can."""
    if _CONTROL.search(cleaned):
        return "contains control characters"
    if len(cleaned) > limit:
        return f"longer than {limit} characters ({len(cleaned)})"
    return None


def _entry(
    where: str, index: int | None, parts: Iterable[tuple[str, str]], not_carried: list[NotCarried]
) -> _Entry | None:
    """Several text parts of one value, cleaned; any part Google cannot take drops the whole value.

    A dropped value is reported as ``where[index].key`` (``where.key`` without an index); the
    label is only built then, since nearly every value passes.
    """
    out: _Entry = {}
    for key, raw in parts:
        if not raw:
            continue
        # _clean and _problem inlined for the common case: this runs for every value of every contact.
        cleaned = raw.strip() if raw.isascii() else _clean(raw)
        if not cleaned:
            continue
        # isprintable() is True only without control characters, and is cheaper than the search.
        if len(cleaned) <= MAX_TEXT and (cleaned.isprintable() or not _CONTROL_SEARCH(cleaned)):
            out[key] = cleaned
            continue
        problem = _problem(cleaned, MAX_TEXT)
        if problem is not None:
            label = where if index is None else f"{where}[{index}]"
            not_carried.append(NotCarried(f"{label}.{key}", problem))
            return None
        out[key] = cleaned
    return out


def _projector(person_field: str) -> Callable[[list[_Entry]], list[_Entry]]:
    """What :func:`owned_projection` makes of entries this module wrote for ``person_field``.

    They are already cleaned and hold only written keys with values (constant extras are added
    after), so the projection only lower-cases the values Google may re-case.
    """
    lower = tuple(key for key in _WRITTEN_KEYS[person_field] if key in _CASE_INSENSITIVE)

    def project(entries: list[_Entry]) -> list[_Entry]:
        if not lower:
            return entries
        projected = []
        for entry in entries:
            copy = None
            for key in lower:
                value = entry.get(key)
                if value is not None and not value.islower():
                    # Only an entry with something to re-case is copied (``work`` and ``ua`` are not).
                    copy = copy or dict(entry)
                    copy[key] = value.lower()
            projected.append(copy or entry)
        return projected

    return project


def _text_step(person_field: str, specs: tuple[FieldSpec, ...]) -> Step:
    """The one entry of a Person field made of CRM text fields (``names``, ``biographies``...)."""
    project = _projector(person_field)
    extras = dict(_ENTRY_EXTRAS.get(person_field, {}))
    if len(specs) > 1:
        keys = tuple(s.person_key for s in specs)
        read_all = attrgetter(*(s.name for s in specs))
        # Reported as e.g. ``name.givenName``; any part Google cannot take drops the whole entry.
        label = person_field.removesuffix("s")

        def parts(contact: ContactData, not_carried: list[NotCarried]) -> _Entry | None:
            return _entry(label, None, zip(keys, read_all(contact), strict=True), not_carried)

    else:
        (spec,) = specs
        read = attrgetter(spec.name)
        limit = MAX_NOTES if spec.multiline else MAX_TEXT

        def parts(contact: ContactData, not_carried: list[NotCarried]) -> _Entry | None:
            raw = read(contact)
            if not raw:
                return None
            value = _clean(raw)
            if spec.multiline and len(value) > MAX_NOTES:
                # Long free text is cut rather than dropped: its start is still worth having.
                message = f"only the first {MAX_NOTES} of {len(value)} characters are carried"
                not_carried.append(NotCarried(spec.name, message))
                value = _clean(value[:MAX_NOTES])
            if not value:
                return None
            problem = _problem(value, limit)
            if problem is not None:
                not_carried.append(NotCarried(spec.name, problem))
                return None
            return {spec.person_key: value}

    def step(
        contact: ContactData, fields: _Fields, projection: _Fields, not_carried: list[NotCarried]
    ) -> None:
        entry = parts(contact, not_carried)
        if entry:
            fields[person_field] = [{**entry, **extras} if extras else entry]
            projection[person_field] = project([entry])

    return step


def _multi_step(spec: FieldSpec, one: Callable[[str, int, Any, list[NotCarried]], _Entry | None]) -> Step:
    """A field of several values, each mapped by ``one`` (``None``: left out)."""
    read, person_field, project = attrgetter(spec.name), spec.person_field, _projector(spec.person_field)

    def step(
        contact: ContactData, fields: _Fields, projection: _Fields, not_carried: list[NotCarried]
    ) -> None:
        values = read(contact)
        if not values:
            return
        entries = [e for i, v in enumerate(values) if (e := one(spec.name, i, v, not_carried))]
        if entries:
            fields[person_field] = entries
            projection[person_field] = project(entries)

    return step


def _typed(where: str, index: int, typed: TypedValue, not_carried: list[NotCarried]) -> _Entry | None:
    value, kind = typed.value, typed.type
    if value.isascii() and kind.isascii():
        # What _entry makes of two clean ASCII parts, without its loop: nearly every e-mail,
        # phone and URL. Anything else (too long, control characters) takes _entry's path.
        value, kind = value.strip(), kind.strip()
        if value and len(value) <= MAX_TEXT and len(kind) <= MAX_TEXT and (value + kind).isprintable():
            return {"value": value, "type": kind} if kind else {"value": value}
    entry = _entry(where, index, (("value", typed.value), ("type", typed.type)), not_carried)
    return entry if entry and entry.get("value") else None


def _address(where: str, index: int, address: PostalAddress, not_carried: list[NotCarried]) -> _Entry | None:
    parts = (
        ("type", address.type),
        ("streetAddress", address.street),
        ("extendedAddress", address.extended),
        ("poBox", address.po_box),
        ("city", address.city),
        ("region", address.region),
        ("postalCode", address.postal_code),
        ("country", address.country),
        ("countryCode", address.country_code.upper()),
    )
    entry = _entry(where, index, parts, not_carried)
    if entry is None or set(entry) <= {"type"}:
        return None
    return entry


def _messenger(where: str, index: int, messenger: Messenger, not_carried: list[NotCarried]) -> _Entry | None:
    protocol = _clean(messenger.protocol).lower()
    if not protocol:
        not_carried.append(NotCarried(f"{where}[{index}]", "no messenger name"))
        return None
    parts = (("username", messenger.username), ("protocol", _GOOGLE_IM_PROTOCOLS.get(protocol, protocol)))
    entry = _entry(where, index, parts, not_carried)
    if entry is None or not entry.get("username"):
        return None
    return entry


def _birthday_step(spec: FieldSpec) -> Step:
    read, person_field = attrgetter(spec.name), spec.person_field

    def step(
        contact: ContactData, fields: _Fields, projection: _Fields, not_carried: list[NotCarried]
    ) -> None:
        value = read(contact)
        if value is None:
            return
        birthday = _birthday(value)
        if birthday is None:
            not_carried.append(NotCarried(spec.name, "not a valid calendar date"))
        else:
            fields[person_field] = projection[person_field] = [{"date": birthday}]

    return step


STEP_MAKERS: Final[Mapping[Kind, Callable[[FieldSpec], Step]]] = {
    Kind.EMAILS: lambda spec: _multi_step(spec, _typed),
    Kind.PHONES: lambda spec: _multi_step(spec, _typed),
    Kind.URLS: lambda spec: _multi_step(spec, _typed),
    Kind.BIRTHDAY: _birthday_step,
    Kind.ADDRESSES: lambda spec: _multi_step(spec, _address),
    Kind.MESSENGERS: lambda spec: _multi_step(spec, _messenger),
}
"""How each kind of field other than text becomes its Person field's entries."""


def _compile() -> tuple[Step, ...]:
    """The field table turned into one step per Person field written, in the table's order.

    Deciding per field what to read and how to map it is done here once, not per contact.
    """
    steps = []
    for spec in CONTACT_FIELDS:
        if spec.kind is not Kind.TEXT:
            steps.append(STEP_MAKERS[spec.kind](spec))
        elif spec is _TEXT_GROUPS[spec.person_field][0]:
            steps.append(_text_step(spec.person_field, _TEXT_GROUPS[spec.person_field]))
    return tuple(steps)


_STEPS: Final = _compile()


def map_contact(contact: ContactData) -> MappedContact:
    """The Person fields GroupSync writes for ``contact``, their hash, and what is not carried.

    The hash is taken of the projection the steps build alongside the fields, equal to
    :func:`owned_projection` of those fields (``tests/sync/test_mapping.py`` checks it).
    """
    fields: _Fields = {}
    projection: _Fields = {}
    not_carried: list[NotCarried] = []
    for step in _STEPS:
        step(contact, fields, projection, not_carried)
    return MappedContact(contact.crm_id, fields, _digest(projection), tuple(not_carried))


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


def _clean(value: str) -> str:
    # NFC leaves ASCII as it is; most values are ASCII, and normalize() is the costlier call.
    if value.isascii():
        return value.strip()
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
    return _digest(owned_projection(person))


def _digest(projection: Mapping[str, list[_Entry]]) -> str:
    # Sorted keys, no spaces, UTF-8 unescaped: the bytes json.dumps(sort_keys=True,
    # ensure_ascii=False, separators=(",", ":")) gave, so hashes stored before stay valid.
    return hashlib.sha256(orjson.dumps(projection, option=orjson.OPT_SORT_KEYS)).hexdigest()
