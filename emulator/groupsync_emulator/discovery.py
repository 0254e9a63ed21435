"""What a People API request may say, as the discovery document shipped in google-api-python-client
(``people.v1.json``) and Google's reference pages document it: query parameters, request bodies,
field masks and read sources. Anything else is Google's 400 INVALID_ARGUMENT, worded as Google words it.

Where Google documents a narrower set than elsewhere (``readGroupFields`` on contactGroups.create
has no ``memberCount``), the narrower one applies; tests/emulator/test_people_masks.py checks every
set in :data:`MASKS` and :data:`READ_SOURCES` against the discovery document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from googleapiclient.discovery_cache import get_static_doc

from groupsync_emulator.errors import GoogleApiError

# The person fields the discovery document lists for personFields / readMask, and for updatePersonFields.
READ_MASK_FIELDS = frozenset(
    {
        "addresses",
        "ageRanges",
        "biographies",
        "birthdays",
        "calendarUrls",
        "clientData",
        "coverPhotos",
        "emailAddresses",
        "events",
        "externalIds",
        "genders",
        "imClients",
        "interests",
        "locales",
        "locations",
        "memberships",
        "metadata",
        "miscKeywords",
        "names",
        "nicknames",
        "occupations",
        "organizations",
        "phoneNumbers",
        "photos",
        "relations",
        "sipAddresses",
        "skills",
        "urls",
        "userDefined",
    }
)
UPDATE_MASK_FIELDS = READ_MASK_FIELDS - {"ageRanges", "coverPhotos", "metadata", "photos", "skills"}

GROUP_FIELDS = frozenset({"clientData", "groupType", "memberCount", "metadata", "name"})
"""groupFields of contactGroups.get, list and batchGet, and readGroupFields of contactGroups.update."""
CREATE_GROUP_FIELDS = GROUP_FIELDS - {"memberCount"}
"""readGroupFields of contactGroups.create: Google lists no memberCount there."""
DEFAULT_GROUP_FIELDS = frozenset({"metadata", "groupType", "memberCount", "name"})
DEFAULT_READ_GROUP_FIELDS = frozenset({"metadata", "groupType", "name"})
UPDATE_GROUP_FIELDS = frozenset({"clientData", "name"})

READ_SOURCES = frozenset(
    {
        "READ_SOURCE_TYPE_UNSPECIFIED",
        "READ_SOURCE_TYPE_PROFILE",
        "READ_SOURCE_TYPE_CONTACT",
        "READ_SOURCE_TYPE_DOMAIN_CONTACT",
        "READ_SOURCE_TYPE_OTHER_CONTACT",
    }
)
"""The ``sources`` values every People method that reads people back accepts (the ReadSourceType enum)."""

MASKS: Mapping[tuple[str, str], frozenset[str]] = {
    ("people.createContact", "personFields"): READ_MASK_FIELDS,
    ("people.get", "personFields"): READ_MASK_FIELDS,
    ("people.getBatchGet", "personFields"): READ_MASK_FIELDS,
    ("people.updateContact", "personFields"): READ_MASK_FIELDS,
    ("people.updateContact", "updatePersonFields"): UPDATE_MASK_FIELDS,
    ("people.connections.list", "personFields"): READ_MASK_FIELDS,
    ("people.batchCreateContacts", "readMask"): READ_MASK_FIELDS,
    ("people.batchUpdateContacts", "readMask"): READ_MASK_FIELDS,
    ("people.batchUpdateContacts", "updateMask"): UPDATE_MASK_FIELDS,
    ("contactGroups.create", "readGroupFields"): CREATE_GROUP_FIELDS,
    ("contactGroups.get", "groupFields"): GROUP_FIELDS,
    ("contactGroups.list", "groupFields"): GROUP_FIELDS,
    ("contactGroups.batchGet", "groupFields"): GROUP_FIELDS,
    ("contactGroups.update", "readGroupFields"): GROUP_FIELDS,
    ("contactGroups.update", "updateGroupFields"): UPDATE_GROUP_FIELDS,
}
"""Every field mask the emulator reads, by (method, parameter): the paths it may hold."""

_PERSON_MASK_DOCS = "https://developers.google.com/people/api/rest/v1/people/get"
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def invalid(message: str) -> GoogleApiError:
    return GoogleApiError(400, "INVALID_ARGUMENT", message)


@cache
def discovery_document() -> Mapping[str, Any]:
    document = get_static_doc("people", "v1")
    if document is None:
        raise RuntimeError("google-api-python-client no longer ships people.v1.json")
    parsed: Mapping[str, Any] = json.loads(document)
    return parsed


def discovery_schemas() -> Mapping[str, Any]:
    schemas: Mapping[str, Any] = discovery_document()["schemas"]
    return schemas


@cache
def query_parameters(method: str) -> frozenset[str]:
    """The query parameters the discovery document declares for ``method`` (``people.connections.list``)."""
    *path, name = method.split(".")
    resource: Mapping[str, Any] = discovery_document()
    for part in path:
        resource = resource["resources"][part]
    parameters = resource["methods"][name].get("parameters", {})
    return frozenset(k for k, v in parameters.items() if v["location"] == "query")


def check_json(schema_name: str, value: Any, where: str) -> None:
    """Reject what Google's JSON parser rejects: unknown names and values of the wrong type."""
    _check_value({"$ref": schema_name}, value, where)


def _check_value(schema: Mapping[str, Any], value: Any, where: str) -> None:
    if "$ref" in schema:
        definition = discovery_schemas()[schema["$ref"]]
        if not isinstance(value, dict):
            raise invalid(f"Invalid value at '{where}' ({schema['$ref']}), {json.dumps(value)}")
        properties = definition.get("properties", {})
        for name, item in value.items():
            if name not in properties:
                raise invalid(
                    f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
                )
            _check_value(properties[name], item, f"{where}.{name}")
        return
    kind = schema.get("type")
    if kind == "array":
        if not isinstance(value, list):
            raise invalid(f"Invalid value at '{where}' (array), {json.dumps(value)}")
        for index, item in enumerate(value):
            _check_value(schema["items"], item, f"{where}[{index}]")
    elif kind == "object" and "additionalProperties" in schema:
        if not isinstance(value, dict):
            raise invalid(f"Invalid value at '{where}' (map), {json.dumps(value)}")
        for key, item in value.items():
            _check_value(schema["additionalProperties"], item, f"{where}[{key}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise invalid(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}")
        if "enum" in schema and value not in schema["enum"]:
            raise invalid(f"Invalid value at '{where}', \"{value}\"")
    elif kind == "integer":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or not str(value).lstrip("-").isdigit()
        ):
            raise invalid(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise invalid(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}")


def parse_mask(raw: str | None, method: str, name: str, *, required: bool) -> frozenset[str]:
    """The comma-separated field mask ``name`` of ``method``; each path must be one :data:`MASKS` allows.

    Google's wording: a bad path is echoed in snake_case (``formatted_name``); person masks point
    at the people.get reference page, group masks name the path only.
    """
    allowed = MASKS[(method, name)]
    person = method.startswith("people.")
    if raw is None or raw.strip() == "":
        if required:
            raise invalid(
                f"{name} mask is required. Please specify one or more valid paths. "
                f"Valid paths are documented at {_PERSON_MASK_DOCS}."
            )
        return frozenset()
    paths = [part.strip() for part in raw.split(",")]
    for path in paths:
        if path.removeprefix("person.") not in allowed:
            echoed = _CAMEL.sub("_", path).lower()
            documented = f" Valid paths are documented at {_PERSON_MASK_DOCS}." if person else ""
            raise invalid(f'Invalid {name} mask path: "{echoed}".{documented}')
    return frozenset(path.removeprefix("person.") for path in paths)


def check_sources(values: list[str]) -> frozenset[str]:
    """The ``sources`` of a read; an unknown one is refused as Google refuses a bad enum value."""
    for index, value in enumerate(values):
        if value not in READ_SOURCES:
            raise invalid(
                f"Invalid value at 'sources[{index}]' "
                f'(type.googleapis.com/google.people.v1.ReadSourceType), "{value}"'
            )
    return frozenset(values)
