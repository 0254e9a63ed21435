"""Validation of CRM input: one set of rules that both checks payloads and describes them.

The field table (:data:`app.contact_fields.CONTACT_FIELDS`) drives both :func:`validate_contact`
and :func:`contact_input_schema`, the JSON Schema published in the OpenAPI document, through one
checker and one schema builder per field kind, so the document cannot drift from what the API
accepts and a field declared in the table is validated and published without further code.

Length limits. Google does not publish per-field maxima for the People API, so GroupSync
chooses conservative ones that Google Contacts is known to hold: 200 characters for name
parts, job title, company, address parts and messenger handles; 254 for an e-mail address
(the SMTP path limit, RFC 5321); 40 for a phone number; 2,048 for a URL and for notes; 50 for
a type label; 128 for a CRM id; at most 20 values in each multi-valued field.

Text rules. Control characters (Unicode category Cc) are rejected everywhere, except line
breaks and tabs in multi-line fields (notes, street); unpaired surrogates are rejected (they
cannot be stored as UTF-8). Everything else, including Cyrillic, right-to-left scripts,
emoji and their joiners, is kept exactly as given apart from trimming surrounding spaces.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from app.address_reasons import Phrase, email_reason, phone_reason
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
from app.extensions import N_, stored_message

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}$"
"""CRM ids travel in URL paths, so they are limited to characters that need no escaping."""
_ID_RE = re.compile(ID_PATTERN)
MAX_ITEMS = 20
MAX_BATCH = 1000
TYPE_LENGTH = 50
_PROTOCOL_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_PHONE_CHARS_RE = re.compile(r"^\+?[0-9 ()./-]+((ext\.?|x|#)\s*[0-9]+)?$", re.IGNORECASE)
KNOWN_MESSENGERS = ("telegram", "whatsapp", "viber", "signal", "skype")


Param = str | int | Phrase


@dataclass(frozen=True)
class FieldError:
    """What is wrong with ``field``: an English message id (marked with ``N_``) and its parameters.

    The API answers with :attr:`message`, the English text, so its error bodies never change with
    a language; a CSV import report keeps :meth:`stored` and shows it in each reader's language.
    """

    field: str
    msgid: str
    params: dict[str, Param] = dataclass_field(default_factory=dict)

    @property
    def message(self) -> str:
        """The message in English (the msgid filled in, nothing translated)."""
        if not self.params:
            return self.msgid
        return self.msgid % {k: v.english if isinstance(v, Phrase) else v for k, v in self.params.items()}

    def stored(self) -> str:
        """The message as an :func:`app.extensions.stored_message`, translated when it is shown."""
        params = {k: v.stored() if isinstance(v, Phrase) else v for k, v in self.params.items()}
        return stored_message(self.msgid, **params)


class InputError(Exception):
    """Raised with every problem found; ``errors[0]`` is the one reported first."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


@dataclass(frozen=True)
class TextRule:
    max_length: int
    multiline: bool = False
    description: str = ""


CONTACT_TEXT: Final[dict[str, TextRule]] = {
    spec.name: TextRule(spec.max_length, spec.multiline, spec.description)
    for spec in CONTACT_FIELDS
    if spec.kind is Kind.TEXT
}
"""The text fields of a contact and their rules, from the field table."""

ADDRESS_TEXT: dict[str, TextRule] = {
    "type": TextRule(TYPE_LENGTH, description="home, work, other or a custom label"),
    "street": TextRule(200, multiline=True),
    "extended": TextRule(200, description="Apartment, suite..."),
    "po_box": TextRule(200),
    "city": TextRule(200),
    "region": TextRule(200),
    "postal_code": TextRule(200),
    "country": TextRule(200),
}


class _Checker:
    def __init__(self, default_region: str | None) -> None:
        self.default_region = default_region
        self.errors: list[FieldError] = []

    def fail(self, field: str, msgid: str, **params: Param) -> None:
        self.errors.append(FieldError(field, msgid, params))

    def text(self, value: object, field: str, rule: TextRule) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail(field, N_("must be a string, not %(type)s"), type=_json_type(value))
            return ""
        value = value.strip()
        problem = text_problem(value, field, rule.multiline)
        if problem:
            self.errors.append(problem)
            return ""
        if len(value) > rule.max_length:
            self.fail(
                field,
                N_("is %(length)s characters long; at most %(max)s are allowed"),
                length=len(value),
                max=rule.max_length,
            )
            return ""
        return value

    def obj(
        self, value: object, field: str, allowed: set[str], nullable: frozenset[str] = frozenset()
    ) -> Mapping[str, Any] | None:
        """``value`` as an object of ``allowed`` keys; only the ``nullable`` ones may be null.

        An omitted key is stored empty; ``null`` is refused where the published schema says
        string, array or object, so the API accepts exactly what its document describes.
        """
        if not isinstance(value, dict):
            self.fail(field, N_("must be an object, not %(type)s"), type=_json_type(value))
            return None
        for key in value:
            where = f"{field}.{key}" if field else str(key)
            if key not in allowed:
                self.fail(where, N_("is not a known field"))
            elif value[key] is None and key not in nullable:
                self.fail(where, N_("must not be null; leave it out to store it empty"))
        return {key: item for key, item in value.items() if item is not None}

    def items(self, value: object, field: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, N_("must be an array, not %(type)s"), type=_json_type(value))
            return []
        if len(value) > MAX_ITEMS:
            self.fail(
                field,
                N_("has %(count)s values; at most %(max)s are allowed"),
                count=len(value),
                max=MAX_ITEMS,
            )
            return []
        return value

    def typed_values(self, value: object, field: str, spec: FieldSpec) -> tuple[TypedValue, ...]:
        result: list[TypedValue] = []
        for index, item in enumerate(self.items(value, field)):
            where = f"{field}[{index}]"
            body = self.obj(item, where, {"value", "type"})
            if body is None:
                continue
            raw = body.get("value")
            if raw is None or raw == "":
                self.fail(f"{where}.value", N_("is required"))
                continue
            text = self.text(raw, f"{where}.value", TextRule(spec.max_length))
            kind = self.text(body.get("type"), f"{where}.type", TextRule(TYPE_LENGTH))
            if not text:
                continue
            normalised = self._value(spec.kind, text, f"{where}.value")
            if normalised is not None:
                result.append(TypedValue(value=normalised, type=kind))
        return tuple(result)

    def _value(self, kind: Kind, text: str, field: str) -> str | None:
        if kind is Kind.EMAILS:
            try:
                return validate_email(text, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                self.fail(field, N_("is not a valid e-mail address: %(error)s"), error=email_reason(exc))
                return None
        if kind is Kind.PHONES:
            return self._phone(text, field)
        parts = urlsplit(text)
        if (
            parts.scheme.lower() not in {"http", "https"}
            or not parts.netloc
            or any(c.isspace() for c in text)
        ):
            self.fail(field, N_("must be an absolute http:// or https:// URL without spaces"))
            return None
        return text

    def _phone(self, text: str, field: str) -> str | None:
        if not _PHONE_CHARS_RE.match(text) or not any(c.isdigit() for c in text):
            self.fail(
                field, N_("is not a phone number (one leading +, then digits, spaces and ( ) - . / only)")
            )
            return None
        region = None if text.startswith("+") else self.default_region
        if region is None and not text.startswith("+"):
            # No region known: keep the number as the CRM wrote it.
            return text
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            self.fail(field, N_("is not a phone number: %(error)s"), error=phone_reason(exc))
            return None
        if not phonenumbers.is_possible_number(number):
            if region is None:
                self.fail(field, N_("is not a possible international phone number"))
            else:
                self.fail(field, N_("is not a possible %(region)s phone number"), region=region)
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def birthday(self, value: object, field: str) -> Birthday | None:
        if value is None:
            return None
        body = self.obj(value, field, {"year", "month", "day"}, frozenset({"year"}))
        if body is None:
            return None
        numbers: dict[str, int | None] = {}
        for key, low, high in (("year", 1, 9999), ("month", 1, 12), ("day", 1, 31)):
            raw = body.get(key)
            if raw is None:
                if key != "year":
                    self.fail(f"{field}.{key}", N_("is required"))
                numbers[key] = None
            elif isinstance(raw, bool) or not isinstance(raw, int):
                self.fail(f"{field}.{key}", N_("must be a whole number, not %(type)s"), type=_json_type(raw))
                numbers[key] = None
            elif not low <= raw <= high:
                self.fail(f"{field}.{key}", N_("must be between %(low)s and %(high)s"), low=low, high=high)
                numbers[key] = None
            else:
                numbers[key] = raw
        month, day, year = numbers["month"], numbers["day"], numbers["year"]
        if month is None or day is None or (body.get("year") is not None and year is None):
            return None
        try:
            # A leap year stands in when the year is unknown, so 29 February is accepted.
            date(year if year is not None else 2000, month, day)
        except ValueError:
            self.fail(field, N_("%(date)s is not a date"), date=f"{year or '----'}-{month:02d}-{day:02d}")
            return None
        return Birthday(month=month, day=day, year=year)

    def addresses(self, value: object, field: str) -> tuple[PostalAddress, ...]:
        result = []
        for index, item in enumerate(self.items(value, field)):
            where = f"{field}[{index}]"
            body = self.obj(item, where, {*ADDRESS_TEXT, "country_code"})
            if body is None:
                continue
            parts = {
                key: self.text(body.get(key), f"{where}.{key}", rule) for key, rule in ADDRESS_TEXT.items()
            }
            code = self.text(body.get("country_code"), f"{where}.country_code", TextRule(2))
            if code and not re.fullmatch(r"[A-Za-z]{2}", code):
                self.fail(f"{where}.country_code", N_("must be a two-letter ISO 3166-1 code"))
                code = ""
            if not any(value for key, value in parts.items() if key != "type") and not code:
                self.fail(where, N_("is empty: give at least one address part"))
                continue
            result.append(PostalAddress(**parts, country_code=code.upper()))
        return tuple(result)

    def messengers(self, value: object, field: str) -> tuple[Messenger, ...]:
        result = []
        for index, item in enumerate(self.items(value, field)):
            where = f"{field}[{index}]"
            body = self.obj(item, where, {"protocol", "username"})
            if body is None:
                continue
            protocol = self.text(body.get("protocol"), f"{where}.protocol", TextRule(40)).lower()
            username = self.text(body.get("username"), f"{where}.username", TextRule(200))
            if not protocol and body.get("protocol") in (None, ""):
                self.fail(f"{where}.protocol", N_("is required"))
            elif protocol and not _PROTOCOL_RE.match(protocol):
                self.fail(
                    f"{where}.protocol",
                    N_("must be a name such as telegram, whatsapp, viber, signal or skype"),
                )
                protocol = ""
            if not username and body.get("username") in (None, ""):
                self.fail(f"{where}.username", N_("is required"))
            if protocol and username:
                result.append(Messenger(protocol=protocol, username=username))
        return tuple(result)


CHECKS: Final[dict[Kind, Callable[[_Checker, FieldSpec, object, str], Any]]] = {
    Kind.TEXT: lambda c, spec, raw, where: c.text(raw, where, CONTACT_TEXT[spec.name]),
    Kind.EMAILS: lambda c, spec, raw, where: c.typed_values(raw, where, spec),
    Kind.PHONES: lambda c, spec, raw, where: c.typed_values(raw, where, spec),
    Kind.URLS: lambda c, spec, raw, where: c.typed_values(raw, where, spec),
    Kind.BIRTHDAY: lambda c, spec, raw, where: c.birthday(raw, where),
    Kind.ADDRESSES: lambda c, spec, raw, where: c.addresses(raw, where),
    Kind.MESSENGERS: lambda c, spec, raw, where: c.messengers(raw, where),
}
"""How each kind of field is checked and normalised into its value."""
_ACCEPTED_KEYS = frozenset({"id", *(spec.name for spec in CONTACT_FIELDS)})
_NULLABLE_KEYS = frozenset(spec.name for spec in CONTACT_FIELDS if spec.kind is Kind.BIRTHDAY)
"""The fields whose published schema allows ``null`` (a birthday: none)."""


def text_problem(value: str, field: str, multiline: bool = False) -> FieldError | None:
    """Why ``value`` cannot be stored as text in ``field``, or ``None`` when it can."""
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            msgid = N_("contains an invalid character (unpaired surrogate) at position %(position)s")
            return FieldError(field, msgid, {"position": position})
        if category == "Cc" and not (multiline and char in "\n\r\t"):
            msgid = N_("contains a control character (U+%(code)s) at position %(position)s")
            return FieldError(field, msgid, {"code": f"{ord(char):04X}", "position": position})
    return None


def check_id(value: object, field: str) -> str:
    """A CRM id, or :class:`InputError` naming ``field``."""
    if not isinstance(value, str):
        raise InputError(
            [FieldError(field, N_("must be a string, not %(type)s"), {"type": _json_type(value)})]
        )
    if not _ID_RE.match(value):
        raise InputError(
            [FieldError(field, N_("must be 1-128 characters: letters, digits and . _ : @ ~ - (not first)"))]
        )
    return value


def batch_items(body: object, name: str) -> list[object]:
    """The 1 to :data:`MAX_BATCH` items of a bulk request ``{"<name>": [...]}``."""
    if not isinstance(body, dict):
        raise InputError([FieldError("body", N_("must be a JSON object with '%(name)s'"), {"name": name})])
    unknown = [key for key in body if key != name]
    if unknown:
        raise InputError([FieldError(str(unknown[0]), N_("is not a known field"))])
    items = body.get(name)
    if not isinstance(items, list):
        raise InputError([FieldError(name, N_("must be an array"))])
    if not items:
        raise InputError([FieldError(name, N_("must not be empty"))])
    if len(items) > MAX_BATCH:
        raise InputError(
            [
                FieldError(
                    name,
                    N_("has %(count)s items; at most %(max)s are allowed"),
                    {"count": len(items), "max": MAX_BATCH},
                )
            ]
        )
    return items


def check_name(value: object, field: str = "name", max_length: int = 200) -> str:
    """A required one-line name (a list's, an API key's)."""
    checker = _Checker(None)
    name = checker.text(value, field, TextRule(max_length))
    if checker.errors:
        raise InputError(checker.errors)
    if not name:
        raise InputError([FieldError(field, N_("is required"))])
    return name


def check_region(value: str) -> str:
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InputError([FieldError("default_phone_region", N_("is not a known ISO 3166-1 region code"))])
    return region


def validate_contact(
    payload: object, *, default_region: str | None, prefix: str = "", crm_id: str | None = None
) -> ContactData:
    """Check a contact payload and return its normalised form, or raise :class:`InputError`.

    ``crm_id`` is the id from the URL when there is one; the body may then omit ``id``.
    ``prefix`` is prepended to every field path (``contacts[3].`` in a bulk request).
    """
    checker = _Checker(default_region)
    if not isinstance(payload, dict):
        where = prefix.rstrip(".") or "body"
        raise InputError(
            [FieldError(where, N_("must be a JSON object, not %(type)s"), {"type": _json_type(payload)})]
        )
    body = checker.obj(payload, prefix.rstrip("."), set(_ACCEPTED_KEYS), _NULLABLE_KEYS)
    assert body is not None
    raw_id = crm_id if body.get("id") is None else body["id"]
    if raw_id is None:
        checker.fail(f"{prefix}id", N_("is required"))
        identifier = ""
    else:
        try:
            identifier = check_id(raw_id, f"{prefix}id")
        except InputError as exc:
            checker.errors.extend(exc.errors)
            identifier = ""
        if crm_id is not None and identifier and identifier != crm_id:
            checker.fail(f"{prefix}id", N_("'%(id)s' differs from the id in the URL"), id=identifier)
    values: dict[str, Any] = {
        spec.name: CHECKS[spec.kind](checker, spec, body.get(spec.name), prefix + spec.name)
        for spec in CONTACT_FIELDS
    }
    data = ContactData(crm_id=identifier, **values)
    if checker.errors:
        raise InputError(checker.errors)
    return data


def _json_type(value: object) -> Param:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return Phrase(N_("a boolean"))
    if isinstance(value, int | float):
        return Phrase(N_("a number"))
    if isinstance(value, str):
        return Phrase(N_("a string"))
    if isinstance(value, list):
        return Phrase(N_("an array"))
    if isinstance(value, dict):
        return Phrase(N_("an object"))
    return type(value).__name__


# ----------------------------------------------------------------------------- JSON Schema


def _text_schema(rule: TextRule) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": rule.max_length}
    if rule.description:
        schema["description"] = rule.description
    return schema


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "maxItems": MAX_ITEMS, "items": items}


def _typed_values_schema(spec: FieldSpec) -> dict[str, Any]:
    value = {"type": "string", "minLength": 1, "maxLength": spec.max_length, "description": spec.description}
    kind = {"type": "string", "maxLength": TYPE_LENGTH, "description": spec.type_description}
    return _array(
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["value"],
            "properties": {"value": value, "type": kind},
        }
    )


_BIRTHDAY_SCHEMA: Final = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["month", "day"],
    "properties": {
        "year": {"type": ["integer", "null"], "minimum": 1, "maximum": 9999},
        "month": {"type": "integer", "minimum": 1, "maximum": 12},
        "day": {"type": "integer", "minimum": 1, "maximum": 31},
    },
}
_ADDRESS_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{key: _text_schema(rule) for key, rule in ADDRESS_TEXT.items()},
        "country_code": {"type": "string", "pattern": "^([A-Za-z]{2})?$"},
    },
}
_MESSENGER_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["protocol", "username"],
    "properties": {
        "protocol": {
            "type": "string",
            "pattern": _PROTOCOL_RE.pattern,
            "description": ", ".join(KNOWN_MESSENGERS) + " or another lower-case name",
        },
        "username": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}

SCHEMAS: Final[dict[Kind, Callable[[FieldSpec], dict[str, Any]]]] = {
    Kind.TEXT: lambda spec: _text_schema(CONTACT_TEXT[spec.name]),
    Kind.EMAILS: _typed_values_schema,
    Kind.PHONES: _typed_values_schema,
    Kind.URLS: _typed_values_schema,
    Kind.BIRTHDAY: lambda spec: copy.deepcopy(_BIRTHDAY_SCHEMA),
    Kind.ADDRESSES: lambda spec: _array(copy.deepcopy(_ADDRESS_SCHEMA)),
    Kind.MESSENGERS: lambda spec: _array(copy.deepcopy(_MESSENGER_SCHEMA)),
}
"""The JSON Schema fragment of each kind of field, as :data:`CHECKS` enforces it."""


_MULTILINE_NAMES: Final = [
    *(name for name, rule in CONTACT_TEXT.items() if rule.multiline),
    *(name for name, rule in ADDRESS_TEXT.items() if rule.multiline),
]
_MULTILINE: Final = " and ".join([", ".join(_MULTILINE_NAMES[:-1]), _MULTILINE_NAMES[-1]])


def contact_input_schema() -> dict[str, Any]:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of a contact the API accepts."""
    return {
        "type": "object",
        "additionalProperties": False,
        "description": (
            "A CRM contact. Omitted fields are stored empty (PUT semantics). Strings may not contain "
            f"control characters (line breaks are allowed in {_MULTILINE})."
        ),
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN, "description": "The CRM's own id"},
            **{spec.name: SCHEMAS[spec.kind](spec) for spec in CONTACT_FIELDS},
        },
    }
