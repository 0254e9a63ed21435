"""The emulator's People API driven by the real google-api-python-client over HTTP.

Every response the client receives in these tests passes through :class:`SchemaCheckingHttp`,
which validates it against the response schema of its method in the discovery document the
client itself ships (``people.v1.json``), with unknown properties rejected; error bodies are
checked against Google's error envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httplib2
import jsonschema
import pytest
import requests
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError

from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.discovery import discovery_schemas
from groupsync_emulator.hooks import HooksClient
from tests.emulator.conftest import ADA, CONTACTS, CONTACTS_READONLY, OLENA, TIMEOUT, OAuthDriver

_DISCOVERY_SCHEMAS = discovery_schemas()

ERROR_ENVELOPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "status"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string", "minLength": 1},
                "status": {"type": "string", "pattern": "^[A-Z_]+$"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["@type", "reason", "domain", "metadata"],
                        "properties": {
                            "@type": {"const": "type.googleapis.com/google.rpc.ErrorInfo"},
                            "reason": {"type": "string"},
                            "domain": {"type": "string"},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}


def json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A discovery schema as JSON Schema; objects with declared properties accept no others."""
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    kind = schema.get("type")
    if kind == "object":
        if "properties" in schema:
            return {
                "type": "object",
                "properties": {k: json_schema(v) for k, v in schema["properties"].items()},
                "additionalProperties": False,
            }
        if "additionalProperties" in schema:
            return {"type": "object", "additionalProperties": json_schema(schema["additionalProperties"])}
        return {"type": "object", "maxProperties": 0}
    if kind == "array":
        return {"type": "array", "items": json_schema(schema["items"])}
    if kind == "any":
        return {}
    if kind == "string":
        converted: dict[str, Any] = {"type": "string"}
        if "enum" in schema:
            converted["enum"] = schema["enum"]
        if schema.get("format") == "google-datetime":
            converted["pattern"] = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
        return converted
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    raise AssertionError(f"discovery type {kind!r} has no JSON Schema translation here")


def response_validator(schema_name: str) -> jsonschema.Draft202012Validator:
    root = {
        "$defs": {name: json_schema(definition) for name, definition in _DISCOVERY_SCHEMAS.items()},
        "$ref": f"#/$defs/{schema_name}",
    }
    return jsonschema.Draft202012Validator(root)


def _methods() -> list[tuple[str, re.Pattern[str], str, str]]:
    from googleapiclient.discovery_cache import get_static_doc

    document = json.loads(get_static_doc("people", "v1"))
    found = []

    def walk(resources: Mapping[str, Any], prefix: str) -> None:
        for name, resource in resources.items():
            for method_name, method in resource.get("methods", {}).items():
                path = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", method["flatPath"]))
                found.append(
                    (
                        f"{prefix}{name}.{method_name}",
                        re.compile(f"^/{path}$"),
                        method["httpMethod"],
                        method.get("response", {}).get("$ref", "Empty"),
                    )
                )
            walk(resource.get("resources", {}), f"{prefix}{name}.")

    walk(document["resources"], "")
    return found


_METHODS = _methods()


class SchemaCheckingHttp:
    """An httplib2 transport that sends the bearer token as it is (no refresh, so 401s reach the test) and
    validates every People API answer before the client sees it."""

    def __init__(self, token: str | None) -> None:
        self.inner = httplib2.Http(timeout=TIMEOUT)
        self.token = token
        self.checked: list[str] = []

    def request(
        self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        headers = dict(headers or {})
        if self.token is not None:
            headers["authorization"] = f"Bearer {self.token}"
        response, content = self.inner.request(uri, method, body=body, headers=headers, **kwargs)
        effective = headers.get("x-http-method-override", method)
        path = urlsplit(uri).path
        matches = [m for m in _METHODS if m[2] == effective and m[1].match(path)]
        # Static segments beat placeholders: people:batchGet is not people.get of "people:batchGet".
        matches.sort(key=lambda m: m[1].pattern.count("[^/]+"))
        assert matches, f"{effective} {path} is no People API method"
        name, _, _, schema = matches[0]
        document = json.loads(content or b"{}")
        if response.status < 300:
            response_validator(schema).validate(document)
        else:
            jsonschema.validate(document, ERROR_ENVELOPE)
        self.checked.append(name)
        return response, content

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def people_service(url: str, token: str | None) -> tuple[Resource, SchemaCheckingHttp]:
    checking = SchemaCheckingHttp(token)
    service = build(
        "people", "v1", http=checking, client_options={"api_endpoint": url}, static_discovery=True
    )
    return service, checking


@pytest.fixture
def api(emulator: RunningEmulator, oauth: OAuthDriver) -> Iterator[Resource]:
    """Ada's People API with the contacts scope; every answer is schema-checked on its way in."""
    service, checking = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    yield service
    assert checking.checked, "the test sent no People API request"


def error_of(excinfo: pytest.ExceptionInfo[HttpError]) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(excinfo.value.content)["error"]
    return error


def reason_of(excinfo: pytest.ExceptionInfo[HttpError]) -> str | None:
    details = error_of(excinfo).get("details") or [{}]
    reason: str | None = details[0].get("reason")
    return reason


def person(given: str, **fields: Any) -> dict[str, Any]:
    return {"names": [{"givenName": given, "familyName": "Tester"}], **fields}


def in_group(resource_name: str) -> list[dict[str, Any]]:
    return [{"contactGroupMembership": {"contactGroupResourceName": resource_name}}]


ALL_FIELDS = (
    "names,organizations,emailAddresses,phoneNumbers,birthdays,biographies,addresses,imClients,urls,"
    "memberships,clientData,userDefined,externalIds,metadata"
)


# --- contact groups ------------------------------------------------------------------------------------


def test_group_create_get_and_duplicate_name(api: Resource) -> None:
    created = (
        api.contactGroups()
        .create(
            body={
                "contactGroup": {
                    "name": "CRM: Customers",
                    "clientData": [{"key": "groupsync", "value": "list-1"}],
                },
                "readGroupFields": "name,clientData,groupType,metadata",
            }
        )
        .execute()
    )
    assert created["resourceName"].startswith("contactGroups/")
    assert created["groupType"] == "USER_CONTACT_GROUP"
    assert created["clientData"] == [{"key": "groupsync", "value": "list-1"}]

    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().create(body={"contactGroup": {"name": "crm: customers"}}).execute()
    assert excinfo.value.status_code == 409
    assert error_of(excinfo)["status"] == "ALREADY_EXISTS"

    fetched = api.contactGroups().get(resourceName=created["resourceName"]).execute()
    assert fetched["name"] == "CRM: Customers"
    assert "memberResourceNames" not in fetched, "maxMembers defaults to 0"
    assert "clientData" not in fetched, "clientData is not in the default groupFields"

    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().get(resourceName="contactGroups/0123456789abcdef").execute()
    assert excinfo.value.status_code == 404


def test_group_get_returns_members_up_to_max_members(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Members"}}).execute()
    created = (
        api.people()
        .batchCreateContacts(
            body={
                "contacts": [
                    {"contactPerson": person(f"M{i}", memberships=in_group(group["resourceName"]))}
                    for i in range(3)
                ],
                "readMask": "names",
            }
        )
        .execute()["createdPeople"]
    )
    fetched = api.contactGroups().get(resourceName=group["resourceName"], maxMembers=2).execute()
    assert fetched["memberCount"] == 3
    assert len(fetched["memberResourceNames"]) == 2
    assert set(fetched["memberResourceNames"]) <= {c["person"]["resourceName"] for c in created}
    only_name = api.contactGroups().get(resourceName=group["resourceName"], groupFields="name").execute()
    assert set(only_name) == {"resourceName", "etag", "name", "formattedName"}
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().get(resourceName=group["resourceName"], groupFields="members").execute()
    assert excinfo.value.status_code == 400
    assert "members" in error_of(excinfo)["message"]


def test_group_list_pages_and_syncs(api: Resource, hooks: HooksClient) -> None:
    for name in ("A", "B", "C"):
        api.contactGroups().create(body={"contactGroup": {"name": name}}).execute()
    seen: list[dict[str, Any]] = []
    page = api.contactGroups().list(pageSize=4).execute()
    while True:
        seen.extend(page["contactGroups"])
        if "nextPageToken" not in page:
            break
        assert "nextSyncToken" not in page, "the sync token comes with the last page only"
        page = api.contactGroups().list(pageSize=4, pageToken=page["nextPageToken"]).execute()
    names = [g["name"] for g in seen]
    assert names[:2] == ["myContacts", "starred"]
    assert names[-3:] == ["A", "B", "C"]
    assert page["totalItems"] == len(seen)
    token = page["nextSyncToken"]

    by_name = {g["name"]: g for g in seen}
    hooks.call(
        "POST",
        f"people/accounts/{ADA}/groups/{by_name['A']['resourceName'].split('/')[1]}/rename",
        {"name": "A2"},
    )
    api.contactGroups().delete(resourceName=by_name["B"]["resourceName"]).execute()
    changes = api.contactGroups().list(syncToken=token).execute()
    changed = {g["resourceName"]: g for g in changes["contactGroups"]}
    assert set(changed) == {by_name["A"]["resourceName"], by_name["B"]["resourceName"]}
    assert changed[by_name["A"]["resourceName"]]["name"] == "A2"
    assert changed[by_name["B"]["resourceName"]]["metadata"]["deleted"] is True
    assert "nextSyncToken" in changes


def test_group_batch_get(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Batch"}}).execute()
    missing = "contactGroups/00000000000000ff"
    answer = (
        api.contactGroups()
        .batchGet(resourceNames=[group["resourceName"], "contactGroups/myContacts", missing])
        .execute()["responses"]
    )
    assert [r["requestedResourceName"] for r in answer] == [
        group["resourceName"],
        "contactGroups/myContacts",
        missing,
    ]
    assert answer[0]["contactGroup"]["name"] == "Batch"
    assert answer[1]["contactGroup"]["groupType"] == "SYSTEM_CONTACT_GROUP"
    assert answer[2]["status"]["code"] == 5
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().batchGet(resourceNames=[group["resourceName"]] * 201).execute()
    assert excinfo.value.status_code == 400


def test_group_update_checks_etag_name_and_system_groups(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Old"}}).execute()
    api.contactGroups().create(body={"contactGroup": {"name": "Taken"}}).execute()
    updated = (
        api.contactGroups()
        .update(
            resourceName=group["resourceName"],
            body={
                "contactGroup": {
                    "etag": group["etag"],
                    "name": "New",
                    "clientData": [{"key": "k", "value": "v"}],
                },
                "updateGroupFields": "name,clientData",
                "readGroupFields": "name,clientData",
            },
        )
        .execute()
    )
    assert updated["name"] == "New"
    assert updated["clientData"] == [{"key": "k", "value": "v"}]
    assert updated["etag"] != group["etag"]

    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().update(
            resourceName=group["resourceName"], body={"contactGroup": {"etag": group["etag"], "name": "X"}}
        ).execute()
    assert excinfo.value.status_code == 400
    assert error_of(excinfo)["status"] == "FAILED_PRECONDITION"

    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().update(
            resourceName=group["resourceName"],
            body={"contactGroup": {"etag": updated["etag"], "name": "Taken"}},
        ).execute()
    assert excinfo.value.status_code == 409

    starred = api.contactGroups().get(resourceName="contactGroups/starred").execute()
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().update(
            resourceName="contactGroups/starred",
            body={"contactGroup": {"etag": starred["etag"], "name": "S"}},
        ).execute()
    assert excinfo.value.status_code == 400


def test_group_delete_keeps_or_deletes_members(api: Resource) -> None:
    keep = api.contactGroups().create(body={"contactGroup": {"name": "Keep members"}}).execute()
    drop = api.contactGroups().create(body={"contactGroup": {"name": "Drop members"}}).execute()
    kept = (
        api.people().createContact(body=person("Kept", memberships=in_group(keep["resourceName"]))).execute()
    )
    gone = (
        api.people().createContact(body=person("Gone", memberships=in_group(drop["resourceName"]))).execute()
    )

    assert api.contactGroups().delete(resourceName=keep["resourceName"]).execute() == {}
    survivor = api.people().get(resourceName=kept["resourceName"], personFields="memberships").execute()
    assert [m["contactGroupMembership"]["contactGroupId"] for m in survivor["memberships"]] == ["myContacts"]

    api.contactGroups().delete(resourceName=drop["resourceName"], deleteContacts=True).execute()
    with pytest.raises(HttpError) as excinfo:
        api.people().get(resourceName=gone["resourceName"], personFields="names").execute()
    assert excinfo.value.status_code == 404
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().delete(resourceName="contactGroups/myContacts").execute()
    assert excinfo.value.status_code == 400


def test_members_modify(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Mod"}}).execute()
    only_here = (
        api.people().createContact(body=person("Only", memberships=in_group(group["resourceName"]))).execute()
    )
    elsewhere = api.people().createContact(body=person("Else")).execute()
    missing = "people/c1"
    answer = (
        api.contactGroups()
        .members()
        .modify(
            resourceName=group["resourceName"],
            body={
                "resourceNamesToAdd": [elsewhere["resourceName"], missing],
                "resourceNamesToRemove": [only_here["resourceName"]],
            },
        )
        .execute()
    )
    assert answer == {
        "notFoundResourceNames": [missing],
        "canNotRemoveLastContactGroupResourceNames": [only_here["resourceName"]],
    }
    after = api.people().get(resourceName=elsewhere["resourceName"], personFields="memberships").execute()
    assert {m["contactGroupMembership"]["contactGroupId"] for m in after["memberships"]} == {
        "myContacts",
        group["resourceName"].split("/")[1],
    }
    assert after["etag"] != elsewhere["etag"], "a membership change is a change of the person"

    api.contactGroups().members().modify(
        resourceName="contactGroups/starred", body={"resourceNamesToAdd": [elsewhere["resourceName"]]}
    ).execute()
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().members().modify(
            resourceName="contactGroups/friends", body={"resourceNamesToAdd": [elsewhere["resourceName"]]}
        ).execute()
    assert excinfo.value.status_code == 400
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().members().modify(
            resourceName=group["resourceName"],
            body={
                "resourceNamesToAdd": [f"people/c{i}" for i in range(600)],
                "resourceNamesToRemove": [f"people/c{i}" for i in range(401)],
            },
        ).execute()
    assert excinfo.value.status_code == 400
    assert "1000" in error_of(excinfo)["message"]


# --- people --------------------------------------------------------------------------------------------


def test_create_contact_computes_output_fields_and_ignores_read_only_ones(api: Resource) -> None:
    body = {
        "names": [{"givenName": "Ada", "familyName": "Lovelace", "displayName": "ignored"}],
        "organizations": [{"name": "Analytical Engines", "title": "Analyst"}],
        "emailAddresses": [{"value": "ada@example.com", "type": "work"}],
        "phoneNumbers": [{"value": "+44 20 7946 0958", "type": "mobile", "canonicalForm": "+1"}],
        "birthdays": [{"date": {"month": 12, "day": 10}}],
        "biographies": [{"value": "Notes", "contentType": "TEXT_PLAIN"}],
        "addresses": [
            {
                "streetAddress": "1 St James's Square",
                "city": "London",
                "postalCode": "SW1Y",
                "country": "United Kingdom",
            }
        ],
        "imClients": [
            {"username": "ada", "protocol": "skype"},
            {"username": "ada_l", "protocol": "telegram"},
        ],
        "urls": [{"value": "https://example.com/ada", "type": "profile"}],
        "clientData": [{"key": "groupsync", "value": "crm-1"}],
        "userDefined": [{"key": "k", "value": "v"}],
        "externalIds": [{"value": "42", "type": "customer"}],
        "photos": [{"url": "https://example.com/ignored.png"}],
    }
    created = api.people().createContact(body=body, personFields=ALL_FIELDS).execute()
    assert re.fullmatch(r"people/c\d+", created["resourceName"])
    assert created["names"][0]["displayName"] == "Ada Lovelace"
    assert created["phoneNumbers"][0]["canonicalForm"] == "+442079460958"
    assert created["addresses"][0]["formattedValue"] == "1 St James's Square\nLondon SW1Y\nUnited Kingdom"
    assert [c["formattedProtocol"] for c in created["imClients"]] == ["Skype", "telegram"]
    assert created["birthdays"][0]["date"] == {"month": 12, "day": 10}
    assert "photos" not in created
    assert [m["contactGroupMembership"]["contactGroupResourceName"] for m in created["memberships"]] == [
        "contactGroups/myContacts"
    ]
    assert created["metadata"]["sources"][0]["type"] == "CONTACT"
    assert created["etag"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"names": [{"givenName": "A"}], "favouriteColour": "red"}, "favouriteColour"),
        ({"names": [{"givenName": "A", "nick": "x"}]}, "nick"),
        ({"nicknames": [{"value": "A"}]}, "nicknames"),
        ({"names": [{"givenName": "A"}, {"givenName": "B"}]}, "names"),
        ({"birthdays": [{"date": {"month": 1, "day": 1}}, {"date": {"month": 2, "day": 2}}]}, "birthdays"),
        ({"biographies": [{"value": "a"}, {"value": "b"}]}, "biographies"),
        ({"birthdays": [{"date": {"month": 2, "day": 30, "year": 2001}}]}, "birthdays[0].date"),
        ({"names": [{"givenName": 5}]}, "givenName"),
    ],
)
def test_create_contact_rejects_bad_input_naming_the_field(
    api: Resource, body: dict[str, Any], named: str
) -> None:
    with pytest.raises(HttpError) as excinfo:
        api.people().createContact(body=body).execute()
    assert excinfo.value.status_code == 400
    assert error_of(excinfo)["status"] == "INVALID_ARGUMENT"
    assert named in error_of(excinfo)["message"]


def test_get_requires_person_fields_and_valid_names(api: Resource) -> None:
    created = api.people().createContact(body=person("Get")).execute()
    fetched = api.people().get(resourceName=created["resourceName"], personFields="names").execute()
    assert set(fetched) == {"resourceName", "etag", "names"}
    for fields in (None, "names,shoeSize"):
        with pytest.raises(HttpError) as excinfo:
            api.people().get(resourceName=created["resourceName"], personFields=fields).execute()
        assert excinfo.value.status_code == 400
    assert error_of(excinfo)["message"].startswith('Invalid personFields mask path: "shoe_size".')
    with pytest.raises(HttpError) as excinfo:
        api.people().get(resourceName="people/c99", personFields="names").execute()
    assert excinfo.value.status_code == 404


def test_get_batch_get_up_to_200(api: Resource) -> None:
    created = api.people().createContact(body=person("Batch")).execute()
    names = [created["resourceName"]] * 199 + ["people/c7"]
    # 200 names make the URL longer than the client allows, so it sends a POST with a method override.
    answer = api.people().getBatchGet(resourceNames=names, personFields="names").execute()["responses"]
    assert len(answer) == 200
    assert answer[0]["person"]["names"][0]["givenName"] == "Batch"
    assert answer[-1]["status"]["code"] == 5
    assert answer[-1]["httpStatusCode"] == 404
    with pytest.raises(HttpError) as excinfo:
        api.people().getBatchGet(resourceNames=[*names, "people/c8"], personFields="names").execute()
    assert excinfo.value.status_code == 400


def test_update_contact_replaces_only_masked_fields(api: Resource) -> None:
    created = (
        api.people()
        .createContact(
            body=person(
                "Up", emailAddresses=[{"value": "up@example.com"}], biographies=[{"value": "keep me"}]
            ),
            personFields="names,metadata",
        )
        .execute()
    )
    updated = (
        api.people()
        .updateContact(
            resourceName=created["resourceName"],
            updatePersonFields="names,emailAddresses",
            personFields="names,emailAddresses,biographies,metadata",
            body={"etag": created["etag"], "metadata": created["metadata"], "names": [{"givenName": "Upd"}]},
        )
        .execute()
    )
    assert updated["names"][0]["givenName"] == "Upd"
    assert "emailAddresses" not in updated, "a masked field absent from the body is cleared"
    assert updated["biographies"][0]["value"] == "keep me"
    assert updated["etag"] != created["etag"]

    with pytest.raises(HttpError) as excinfo:
        api.people().updateContact(
            resourceName=created["resourceName"],
            updatePersonFields="names",
            body={
                "etag": created["etag"],
                "metadata": created["metadata"],
                "names": [{"givenName": "Stale"}],
            },
        ).execute()
    assert excinfo.value.status_code == 400
    assert error_of(excinfo)["status"] == "FAILED_PRECONDITION"
    assert "person.etag is different than the current person.etag" in error_of(excinfo)["message"]

    current = {"etag": updated["etag"], "metadata": updated["metadata"]}
    bad_requests = [
        ({"names": [{"givenName": "X"}], **current}, None),
        ({"names": [{"givenName": "X"}], "etag": updated["etag"]}, "names"),
        ({"names": [{"givenName": "X"}], "metadata": updated["metadata"]}, "names"),
        ({"memberships": [], **current}, "memberships"),
        ({**current}, "photos"),
    ]
    for body, mask in bad_requests:
        with pytest.raises(HttpError) as excinfo:
            api.people().updateContact(
                resourceName=created["resourceName"], updatePersonFields=mask, body=body
            ).execute()
        assert excinfo.value.status_code == 400, body
    still = api.people().get(resourceName=created["resourceName"], personFields="names").execute()
    assert still["etag"] == updated["etag"], "rejected updates change nothing"


def test_update_memberships_replaces_all_of_them(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Only this"}}).execute()
    created = api.people().createContact(body=person("Mem"), personFields="metadata,memberships").execute()
    api.contactGroups().members().modify(
        resourceName="contactGroups/starred", body={"resourceNamesToAdd": [created["resourceName"]]}
    ).execute()
    current = api.people().get(resourceName=created["resourceName"], personFields="metadata").execute()
    updated = (
        api.people()
        .updateContact(
            resourceName=created["resourceName"],
            updatePersonFields="memberships",
            personFields="memberships",
            body={
                "etag": current["etag"],
                "metadata": current["metadata"],
                "memberships": in_group(group["resourceName"]),
            },
        )
        .execute()
    )
    assert [m["contactGroupMembership"]["contactGroupResourceName"] for m in updated["memberships"]] == [
        group["resourceName"]
    ]


def test_delete_contact(api: Resource) -> None:
    created = api.people().createContact(body=person("Del")).execute()
    assert api.people().deleteContact(resourceName=created["resourceName"]).execute() == {}
    with pytest.raises(HttpError) as excinfo:
        api.people().deleteContact(resourceName=created["resourceName"]).execute()
    assert excinfo.value.status_code == 404
    with pytest.raises(HttpError) as excinfo:
        api.people().deleteContact(resourceName="people/me").execute()
    assert excinfo.value.status_code == 400


def test_batch_create_contacts(api: Resource, hooks: HooksClient) -> None:
    answer = (
        api.people()
        .batchCreateContacts(
            body={"contacts": [{"contactPerson": person(f"B{i}")} for i in range(200)], "readMask": "names"}
        )
        .execute()
    )
    assert len(answer["createdPeople"]) == 200
    first = answer["createdPeople"][0]
    assert first["requestedResourceName"] == first["person"]["resourceName"]
    assert first["httpStatusCode"] == 200
    assert answer["createdPeople"][5]["person"]["names"][0]["givenName"] == "B5"

    silent = (
        api.people()
        .batchCreateContacts(body={"contacts": [{"contactPerson": person("NoReadBack")}], "readMask": ""})
        .execute()
    )
    assert silent == {}, "an empty readMask skips the read-back"

    before = hooks.call("GET", f"people/accounts/{ADA}/snapshot")
    for body in (
        {"contacts": [{"contactPerson": person(f"T{i}")} for i in range(201)], "readMask": "names"},
        {"contacts": [{"contactPerson": person("NoMask")}]},
        {
            "contacts": [{"contactPerson": person("Good")}, {"contactPerson": {"names": [{}, {}]}}],
            "readMask": "names",
        },
    ):
        with pytest.raises(HttpError) as excinfo:
            api.people().batchCreateContacts(body=body).execute()
        assert excinfo.value.status_code == 400
    assert hooks.call("GET", f"people/accounts/{ADA}/snapshot") == before, "a failed batch stores nothing"


def test_contact_limit_per_account(api: Resource, emulator: RunningEmulator, hooks: HooksClient) -> None:
    state = emulator.state
    with state.lock:
        state.people.settings = replace(state.people.settings, max_contacts=3)
    api.people().batchCreateContacts(
        body={"contacts": [{"contactPerson": person(f"L{i}")} for i in range(2)], "readMask": ""}
    ).execute()
    with pytest.raises(HttpError) as excinfo:
        api.people().batchCreateContacts(
            body={"contacts": [{"contactPerson": person(f"L{i}")} for i in range(2)], "readMask": ""}
        ).execute()
    assert excinfo.value.status_code == 400
    assert error_of(excinfo)["status"] == "FAILED_PRECONDITION"
    assert len(hooks.call("GET", f"people/accounts/{ADA}/snapshot")["contacts"]) == 2
    api.people().createContact(body=person("Third")).execute()
    with pytest.raises(HttpError):
        api.people().createContact(body=person("Fourth")).execute()


def test_batch_update_contacts_is_all_or_nothing(api: Resource) -> None:
    created = [
        c["person"]
        for c in api.people()
        .batchCreateContacts(
            body={
                "contacts": [{"contactPerson": person(f"U{i}")} for i in range(3)],
                "readMask": "names,metadata",
            }
        )
        .execute()["createdPeople"]
    ]
    contacts = {
        p["resourceName"]: {**p, "names": [{"givenName": p["names"][0]["givenName"] + "!"}]} for p in created
    }
    answer = (
        api.people()
        .batchUpdateContacts(body={"contacts": contacts, "updateMask": "names", "readMask": "names"})
        .execute()["updateResult"]
    )
    assert set(answer) == set(contacts)
    assert all(r["person"]["names"][0]["givenName"].endswith("!") for r in answer.values())

    stale = {name: {**body, "names": [{"givenName": "again"}]} for name, body in contacts.items()}
    first = next(iter(stale))
    stale[first] = {**stale[first], "etag": answer[first]["person"]["etag"]}
    with pytest.raises(HttpError) as excinfo:
        api.people().batchUpdateContacts(
            body={"contacts": stale, "updateMask": "names", "readMask": "names"}
        ).execute()
    assert error_of(excinfo)["status"] == "FAILED_PRECONDITION"
    unchanged = api.people().get(resourceName=first, personFields="names").execute()
    assert unchanged["names"][0]["givenName"].endswith("!")

    with pytest.raises(HttpError) as excinfo:
        api.people().batchUpdateContacts(
            body={"contacts": {f"people/c{i}": {} for i in range(201)}, "updateMask": "names", "readMask": ""}
        ).execute()
    assert excinfo.value.status_code == 400


def test_batch_delete_contacts(api: Resource) -> None:
    created = (
        api.people()
        .batchCreateContacts(
            body={"contacts": [{"contactPerson": person(f"D{i}")} for i in range(3)], "readMask": "names"}
        )
        .execute()["createdPeople"]
    )
    names = [c["person"]["resourceName"] for c in created]
    with pytest.raises(HttpError) as excinfo:
        api.people().batchDeleteContacts(body={"resourceNames": [*names[:2], "people/c5"]}).execute()
    assert excinfo.value.status_code == 404
    assert api.people().get(resourceName=names[0], personFields="names").execute()["resourceName"] == names[0]
    assert api.people().batchDeleteContacts(body={"resourceNames": names}).execute() == {}
    with pytest.raises(HttpError) as excinfo:
        api.people().batchDeleteContacts(
            body={"resourceNames": [f"people/c{i}" for i in range(501)]}
        ).execute()
    assert excinfo.value.status_code == 400


# --- connections.list and sync tokens -------------------------------------------------------------------


def _full_listing(api: Resource, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    people: list[dict[str, Any]] = []
    page = api.people().connections().list(resourceName="people/me", **params).execute()
    while True:
        people.extend(page.get("connections", []))
        if "nextPageToken" not in page:
            return people, page
        assert "nextSyncToken" not in page, "the sync token comes with the last page only"
        page = (
            api.people()
            .connections()
            .list(resourceName="people/me", pageToken=page["nextPageToken"], **params)
            .execute()
        )


def test_connections_pages_and_incremental_sync(api: Resource, hooks: HooksClient) -> None:
    created = (
        api.people()
        .batchCreateContacts(
            body={"contacts": [{"contactPerson": person(f"S{i}")} for i in range(5)], "readMask": "names"}
        )
        .execute()["createdPeople"]
    )
    names = [c["person"]["resourceName"] for c in created]
    listed, last = _full_listing(api, personFields="names", pageSize=2, requestSyncToken=True)
    assert [p["resourceName"] for p in listed] == names
    assert last["totalItems"] == 5
    token = last["nextSyncToken"]

    nothing = (
        api.people()
        .connections()
        .list(resourceName="people/me", personFields="names", syncToken=token)
        .execute()
    )
    assert "connections" not in nothing
    token = nothing["nextSyncToken"]

    hooks.call(
        "POST",
        f"people/accounts/{ADA}/contacts/{names[1].split('/')[1]}/edit",
        {"names": [{"givenName": "Edited by the user"}]},
    )
    api.people().deleteContact(resourceName=names[3]).execute()
    changes = (
        api.people()
        .connections()
        .list(resourceName="people/me", personFields="names", syncToken=token)
        .execute()
    )
    by_name = {p["resourceName"]: p for p in changes["connections"]}
    assert set(by_name) == {names[1], names[3]}
    assert by_name[names[1]]["names"][0]["givenName"] == "Edited by the user"
    assert by_name[names[3]]["metadata"] == {"deleted": True}
    assert set(by_name[names[3]]) == {"resourceName", "etag", "metadata"}


def test_connections_argument_errors(api: Resource) -> None:
    api.people().createContact(body=person("Arg")).execute()
    for params in ({}, {"personFields": "names", "pageSize": 1001}, {"personFields": "nme"}):
        with pytest.raises(HttpError) as excinfo:
            api.people().connections().list(resourceName="people/me", **params).execute()
        assert excinfo.value.status_code == 400
    with pytest.raises(HttpError) as excinfo:
        api.people().connections().list(resourceName="people/c1", personFields="names").execute()
    assert excinfo.value.status_code == 400

    api.people().createContact(body=person("Arg2")).execute()
    first = (
        api.people().connections().list(resourceName="people/me", personFields="names", pageSize=1).execute()
    )
    with pytest.raises(HttpError) as excinfo:
        api.people().connections().list(
            resourceName="people/me",
            personFields="emailAddresses",
            pageSize=1,
            pageToken=first["nextPageToken"],
        ).execute()
    assert excinfo.value.status_code == 400


@pytest.mark.parametrize("ageing", ["hook", "clock"])
def test_sync_token_expires_after_seven_days(
    api: Resource, emulator: RunningEmulator, oauth: OAuthDriver, ageing: str
) -> None:
    api.people().createContact(body=person("Exp")).execute()
    _, last = _full_listing(api, personFields="names", requestSyncToken=True)
    token = last["nextSyncToken"]
    if ageing == "hook":
        assert oauth.hooks.call("POST", "people/sync-tokens/age", {"identity": ADA})["aged"] >= 1
    else:
        oauth.hooks.advance_clock(7 * 24 * 3600 + 1)
        # A week also outlives the access token.
        api, _ = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    with pytest.raises(HttpError) as excinfo:
        api.people().connections().list(
            resourceName="people/me", personFields="names", syncToken=token
        ).execute()
    assert excinfo.value.status_code == 400
    assert error_of(excinfo)["status"] == "FAILED_PRECONDITION"
    assert reason_of(excinfo) == "EXPIRED_SYNC_TOKEN"


# --- authorisation ------------------------------------------------------------------------------------


def test_missing_bad_and_read_only_tokens(emulator: RunningEmulator, oauth: OAuthDriver) -> None:
    for token in (None, "ya29.not-a-token"):
        service, _ = people_service(emulator.url, token)
        with pytest.raises(HttpError) as excinfo:
            service.contactGroups().list().execute()
        assert excinfo.value.status_code == 401
        assert error_of(excinfo)["status"] == "UNAUTHENTICATED"

    readonly, _ = people_service(emulator.url, oauth.tokens(scope=CONTACTS_READONLY)["access_token"])
    assert readonly.contactGroups().list().execute()["contactGroups"]
    with pytest.raises(HttpError) as excinfo:
        readonly.contactGroups().create(body={"contactGroup": {"name": "Nope"}}).execute()
    assert excinfo.value.status_code == 403
    assert reason_of(excinfo) == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_accounts_are_separate(emulator: RunningEmulator, oauth: OAuthDriver, api: Resource) -> None:
    created = api.people().createContact(body=person("Ada's")).execute()
    olena, _ = people_service(emulator.url, oauth.tokens(scope=CONTACTS, identity=OLENA)["access_token"])
    with pytest.raises(HttpError) as excinfo:
        olena.people().get(resourceName=created["resourceName"], personFields="names").execute()
    assert excinfo.value.status_code == 404


# --- fidelity -------------------------------------------------------------------------------------------

EMULATED_METHODS = {
    "contactGroups.create",
    "contactGroups.get",
    "contactGroups.list",
    "contactGroups.batchGet",
    "contactGroups.update",
    "contactGroups.delete",
    "contactGroups.members.modify",
    "people.createContact",
    "people.get",
    "people.getBatchGet",
    "people.updateContact",
    "people.deleteContact",
    "people.batchCreateContacts",
    "people.batchUpdateContacts",
    "people.batchDeleteContacts",
    "people.connections.list",
}


def test_every_emulated_method_answers_in_the_discovery_shape(
    emulator: RunningEmulator, oauth: OAuthDriver
) -> None:
    api, checking = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    group = api.contactGroups().create(body={"contactGroup": {"name": "Shapes"}}).execute()
    api.contactGroups().get(
        resourceName=group["resourceName"], maxMembers=5, groupFields="clientData,name"
    ).execute()
    api.contactGroups().list(groupFields="name,memberCount,metadata,groupType,clientData").execute()
    api.contactGroups().batchGet(resourceNames=[group["resourceName"], "contactGroups/00"]).execute()
    group = (
        api.contactGroups()
        .update(
            resourceName=group["resourceName"],
            body={
                "contactGroup": {
                    "etag": group["etag"],
                    "name": "Shapes 2",
                    "clientData": [{"key": "a", "value": "b"}],
                },
                "updateGroupFields": "name,clientData",
                "readGroupFields": "name,clientData,metadata,groupType",
            },
        )
        .execute()
    )
    full = {
        "names": [{"givenName": "Shape", "familyName": "Person", "honorificPrefix": "Dr"}],
        "phoneNumbers": [{"value": "+1 650 253 0000", "type": "work"}],
        "addresses": [{"city": "Kyiv", "countryCode": "UA", "type": "home"}],
        "imClients": [{"username": "s", "protocol": "jabber", "type": "work"}],
        "birthdays": [{"date": {"year": 1990, "month": 1, "day": 2}}],
        "memberships": in_group(group["resourceName"]),
        "clientData": [{"key": "groupsync", "value": "1"}],
    }
    created = api.people().createContact(body=full, personFields=ALL_FIELDS).execute()
    api.people().get(resourceName=created["resourceName"], personFields=ALL_FIELDS).execute()
    api.people().getBatchGet(
        resourceNames=[created["resourceName"], "people/c3"], personFields=ALL_FIELDS
    ).execute()
    updated = (
        api.people()
        .updateContact(
            resourceName=created["resourceName"],
            updatePersonFields="biographies",
            personFields=ALL_FIELDS,
            body={"etag": created["etag"], "metadata": created["metadata"], "biographies": [{"value": "b"}]},
        )
        .execute()
    )
    batch = (
        api.people()
        .batchCreateContacts(body={"contacts": [{"contactPerson": full}], "readMask": ALL_FIELDS})
        .execute()["createdPeople"][0]["person"]
    )
    api.people().batchUpdateContacts(
        body={
            "contacts": {batch["resourceName"]: {**batch, "urls": [{"value": "https://example.com"}]}},
            "updateMask": "urls",
            "readMask": ALL_FIELDS,
        }
    ).execute()
    api.contactGroups().members().modify(
        resourceName=group["resourceName"],
        body={"resourceNamesToRemove": [batch["resourceName"], "people/c9"]},
    ).execute()
    listing = (
        api.people()
        .connections()
        .list(resourceName="people/me", personFields=ALL_FIELDS, requestSyncToken=True)
        .execute()
    )
    api.people().batchDeleteContacts(body={"resourceNames": [batch["resourceName"]]}).execute()
    api.people().deleteContact(resourceName=updated["resourceName"]).execute()
    api.people().connections().list(
        resourceName="people/me", personFields=ALL_FIELDS, syncToken=listing["nextSyncToken"]
    ).execute()
    api.contactGroups().delete(resourceName=group["resourceName"]).execute()
    assert set(checking.checked) == EMULATED_METHODS


def test_schema_check_rejects_what_the_discovery_document_does_not_declare() -> None:
    validator = response_validator("Person")
    validator.validate(
        {"resourceName": "people/c1", "names": [{"givenName": "A", "metadata": {"primary": True}}]}
    )
    for wrong in (
        {"resourceName": "people/c1", "shoeSize": 42},
        {"names": [{"givenName": "A", "nickname": "B"}]},
        {"birthdays": [{"date": {"month": "June"}}]},
        {"metadata": {"sources": [{"type": "FACEBOOK"}]}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(wrong)


@pytest.mark.parametrize(
    "query",
    [
        {"personFields": "names", "pageSize": "5", "colour": "red"},
        {"personFields": "names", "fields": "connections"},
    ],
)
def test_query_parameters_the_method_does_not_declare_are_refused(
    emulator: RunningEmulator, oauth: OAuthDriver, query: dict[str, str]
) -> None:
    token = oauth.tokens(scope=CONTACTS)["access_token"]
    url = f"{emulator.url}/v1/people/me/connections"
    headers = {"Authorization": f"Bearer {token}"}
    refused = requests.get(url, params=query, headers=headers, timeout=TIMEOUT)
    assert refused.status_code == 400
    assert (
        next(k for k in query if k not in ("personFields", "pageSize")) in refused.json()["error"]["message"]
    )
    accepted = requests.get(
        url, params={"personFields": "names", "alt": "json"}, headers=headers, timeout=TIMEOUT
    )
    assert accepted.status_code == 200
