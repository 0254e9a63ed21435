"""The request masks and read sources the emulator accepts are exactly what Google documents.

Each allowed set is checked against the discovery document google-api-python-client ships
(``people.v1.json``); each refusal is Google's 400 INVALID_ARGUMENT in Google's words, and is
made before anything is changed. The group reads another helper's sync engine relies on
(maxMembers, myContacts' memberCount, people:batchGet, a duplicate name) are pinned here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
from googleapiclient.discovery import Resource
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.discovery import CREATE_GROUP_FIELDS, GROUP_FIELDS, MASKS, READ_SOURCES
from groupsync_emulator.hooks import HooksClient
from tests.emulator.conftest import CONTACTS, TIMEOUT, OAuthDriver
from tests.emulator.test_people_api import error_of, in_group, people_service, person

PERSON_DOCS = "Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get."
_MASK_PARAMETERS = {
    "personFields",
    "readMask",
    "updatePersonFields",
    "updateMask",
    "groupFields",
    "readGroupFields",
    "updateGroupFields",
}


def _document() -> Mapping[str, Any]:
    parsed: Mapping[str, Any] = json.loads(get_static_doc("people", "v1"))
    return parsed


def _method(name: str) -> Mapping[str, Any]:
    *path, method = name.split(".")
    resource: Mapping[str, Any] = _document()
    for part in path:
        resource = resource["resources"][part]
    found: Mapping[str, Any] = resource["methods"][method]
    return found


def _declared(method: str) -> dict[str, Mapping[str, Any]]:
    """A method's query parameters and request-body fields, by name."""
    definition = _method(method)
    declared = dict(definition.get("parameters", {}))
    request = definition.get("request", {}).get("$ref")
    if request is not None:
        declared.update(_document()["schemas"][request]["properties"])
    return declared


def _documented_paths(description: str) -> set[str]:
    listing = re.split(r"Valid (?:values|fields) are:", description)[1]
    return set(re.findall(r"\* (\w+)", listing))


@pytest.mark.parametrize(("method", "name"), sorted(MASKS))
def test_every_mask_allows_exactly_what_the_discovery_document_lists(method: str, name: str) -> None:
    documented = _documented_paths(_declared(method)[name]["description"])
    assert MASKS[(method, name)] == documented


def test_every_mask_of_an_emulated_method_is_checked() -> None:
    methods = {method for method, _ in MASKS}
    declared = {(m, name) for m in methods for name in _declared(m) if name in _MASK_PARAMETERS}
    assert declared == set(MASKS)


def test_create_reads_back_less_than_get() -> None:
    """The one place Google's lists differ: a group being created has no memberCount to read."""
    assert {"memberCount"} == GROUP_FIELDS - CREATE_GROUP_FIELDS


@pytest.mark.parametrize("method", sorted({method for method, _ in MASKS if method.startswith("people.")}))
def test_read_sources_are_the_documented_enum(method: str) -> None:
    sources = _declared(method).get("sources")
    if sources is None:
        pytest.skip(f"{method} takes no sources")
    enum = sources.get("enum") or sources["items"]["enum"]
    assert set(enum) == READ_SOURCES


# --- over HTTP, through google-api-python-client ----------------------------------------------------


@pytest.fixture
def api(emulator: RunningEmulator, oauth: OAuthDriver) -> Iterator[Resource]:
    service, checking = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    yield service
    assert checking.checked


def _refused(excinfo: pytest.ExceptionInfo[HttpError]) -> str:
    assert excinfo.value.status_code == 400
    error = error_of(excinfo)
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    message: str = error["message"]
    return message


def _group_names(api: Resource) -> list[str]:
    return [g.get("name", "") for g in api.contactGroups().list(pageSize=1000).execute()["contactGroups"]]


def test_create_refuses_member_count_in_read_group_fields_and_creates_nothing(api: Resource) -> None:
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().create(
            body={"contactGroup": {"name": "GroupSync"}, "readGroupFields": "name,memberCount"}
        ).execute()
    assert _refused(excinfo) == 'Invalid readGroupFields mask path: "member_count".'
    assert "GroupSync" not in _group_names(api)

    created = (
        api.contactGroups()
        .create(
            body={
                "contactGroup": {"name": "GroupSync", "clientData": [{"key": "k", "value": "v"}]},
                "readGroupFields": "clientData,groupType,metadata,name",
            }
        )
        .execute()
    )
    assert created["name"] == "GroupSync"
    assert created["clientData"] == [{"key": "k", "value": "v"}]
    assert "memberCount" not in created


def test_update_may_read_member_count_back(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Before"}}).execute()
    api.people().createContact(body=person("Member", memberships=in_group(group["resourceName"]))).execute()
    group = api.contactGroups().get(resourceName=group["resourceName"]).execute()
    updated = (
        api.contactGroups()
        .update(
            resourceName=group["resourceName"],
            body={
                "contactGroup": {"name": "After", "etag": group["etag"]},
                "readGroupFields": "name,memberCount",
            },
        )
        .execute()
    )
    assert (updated["name"], updated["memberCount"]) == ("After", 1)
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().update(
            resourceName=group["resourceName"],
            body={
                "contactGroup": {"name": "Again", "etag": updated["etag"]},
                "updateGroupFields": "groupType",
            },
        ).execute()
    assert _refused(excinfo) == 'Invalid updateGroupFields mask path: "group_type".'


@pytest.mark.parametrize("path", ["memberResourceNames", "formattedName", "members", "resourceName"])
def test_group_reads_refuse_what_group_fields_does_not_list(api: Resource, path: str) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Read"}}).execute()
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", path).lower()
    expected = f'Invalid groupFields mask path: "{snake}".'
    calls = [
        api.contactGroups().get(resourceName=group["resourceName"], groupFields=f"name,{path}"),
        api.contactGroups().list(groupFields=path),
        api.contactGroups().batchGet(resourceNames=[group["resourceName"]], groupFields=path),
    ]
    for call in calls:
        with pytest.raises(HttpError) as excinfo:
            call.execute()
        assert _refused(excinfo) == expected
    every = ",".join(sorted(GROUP_FIELDS))
    assert api.contactGroups().get(resourceName=group["resourceName"], groupFields=every).execute()["name"]


def test_person_masks_refuse_unknown_and_read_only_paths_in_googles_words(api: Resource) -> None:
    created = api.people().createContact(body=person("Masked")).execute()
    name = created["resourceName"]
    photos = api.people().get(resourceName=name, personFields="photos,coverPhotos,ageRanges").execute()
    assert photos["resourceName"] == name, "read-only fields may be read"

    refusals = [
        (
            api.people().get(resourceName=name, personFields="names,shoeSize"),
            'Invalid personFields mask path: "shoe_size".',
        ),
        (
            api.people().getBatchGet(resourceNames=[name], personFields="formattedName"),
            'Invalid personFields mask path: "formatted_name".',
        ),
        (
            api.people().updateContact(
                resourceName=name,
                updatePersonFields="names,photos",
                body={**person("New"), "etag": created["etag"]},
            ),
            'Invalid updatePersonFields mask path: "photos".',
        ),
        (
            api.people().batchUpdateContacts(
                body={
                    "contacts": {name: {**person("New"), "etag": created["etag"]}},
                    "updateMask": "metadata",
                    "readMask": "names",
                }
            ),
            'Invalid updateMask mask path: "metadata".',
        ),
        (
            api.people().batchCreateContacts(
                body={"contacts": [{"contactPerson": person("Twin")}], "readMask": "names,skillz"}
            ),
            'Invalid readMask mask path: "skillz".',
        ),
        (
            api.people().connections().list(resourceName="people/me", personFields="emailAddress"),
            'Invalid personFields mask path: "email_address".',
        ),
    ]
    for request, message in refusals:
        with pytest.raises(HttpError) as excinfo:
            request.execute()
        assert _refused(excinfo) == f"{message} {PERSON_DOCS}"

    with pytest.raises(HttpError) as excinfo:
        api.people().get(resourceName=name, personFields="").execute()
    assert _refused(excinfo) == (
        f"personFields mask is required. Please specify one or more valid paths. {PERSON_DOCS}"
    )
    unchanged = api.people().get(resourceName=name, personFields="names").execute()
    assert unchanged["etag"] == created["etag"], "a refused update changed nothing"
    everyone = api.people().connections().list(resourceName="people/me", personFields="names").execute()
    assert [p["resourceName"] for p in everyone["connections"]] == [name], "a refused create made nobody"


@pytest.mark.parametrize("value", ["READ_SOURCE_TYPE_FRIEND", "CONTACT", "read_source_type_contact"])
def test_sources_outside_the_enum_are_refused(
    emulator: RunningEmulator, oauth: OAuthDriver, value: str
) -> None:
    """Sent by hand: the client library itself refuses a value outside the enum before sending."""
    token = oauth.tokens(scope=CONTACTS)["access_token"]
    answer = requests.get(
        f"{emulator.url}/v1/people/me/connections",
        params=[("personFields", "names"), ("sources", "READ_SOURCE_TYPE_CONTACT"), ("sources", value)],
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": 400,
            "message": (
                "Invalid value at 'sources[1]' (type.googleapis.com/google.people.v1.ReadSourceType), "
                f'"{value}"'
            ),
            "status": "INVALID_ARGUMENT",
        }
    }
    accepted = requests.get(
        f"{emulator.url}/v1/people/me/connections",
        params=[("personFields", "names"), *(("sources", s) for s in sorted(READ_SOURCES))],
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert accepted.status_code == 200, accepted.text


# --- the group reads the sync engine is built on ------------------------------------------------------


def test_get_with_max_members_returns_member_names_and_count(api: Resource) -> None:
    group = api.contactGroups().create(body={"contactGroup": {"name": "Ours"}}).execute()
    ours = [
        api.people()
        .createContact(body=person(f"In{i}", memberships=in_group(group["resourceName"])))
        .execute()
        for i in range(3)
    ]
    api.people().createContact(body=person("Outside")).execute()
    full = api.contactGroups().get(resourceName=group["resourceName"], maxMembers=10).execute()
    assert full["memberCount"] == 3
    assert sorted(full["memberResourceNames"]) == sorted(p["resourceName"] for p in ours)
    bare = api.contactGroups().get(resourceName=group["resourceName"]).execute()
    assert bare["memberCount"] == 3
    assert "memberResourceNames" not in bare


def test_my_contacts_member_count_returns_no_person(
    api: Resource, emulator: RunningEmulator, hooks: HooksClient
) -> None:
    for i in range(4):
        api.people().createContact(body=person(f"Mine{i}")).execute()
    since = len(hooks.log())
    for fields in (None, "memberCount"):
        mine = api.contactGroups().get(resourceName="contactGroups/myContacts", groupFields=fields).execute()
        assert mine["memberCount"] == 4
        assert "memberResourceNames" not in mine
        assert not {"names", "emailAddresses", "connections"} & set(mine)
    reads = [e for e in hooks.log(since) if e["method"] == "contactGroups.get"]
    assert len(reads) == 2
    assert all(e["contacts_touched"] == [] for e in reads), "no person was handed out"


def test_batch_get_people_up_to_200_with_the_documented_mask(api: Resource) -> None:
    created = (
        api.people()
        .batchCreateContacts(
            body={"contacts": [{"contactPerson": person(f"B{i}")} for i in range(200)], "readMask": "names"}
        )
        .execute()["createdPeople"]
    )
    names = [c["person"]["resourceName"] for c in created]
    got = api.people().getBatchGet(resourceNames=names, personFields="names,clientData").execute()
    assert [r["requestedResourceName"] for r in got["responses"]] == names
    assert all(r["person"]["names"] for r in got["responses"])
    with pytest.raises(HttpError) as excinfo:
        api.people().getBatchGet(resourceNames=[*names, names[0]], personFields="names").execute()
    assert excinfo.value.status_code == 400


def test_duplicate_group_name_at_create_is_409_already_exists(api: Resource) -> None:
    api.contactGroups().create(body={"contactGroup": {"name": "GroupSync: Customers"}}).execute()
    with pytest.raises(HttpError) as excinfo:
        api.contactGroups().create(body={"contactGroup": {"name": "GroupSync: Customers"}}).execute()
    assert excinfo.value.status_code == 409
    assert error_of(excinfo)["status"] == "ALREADY_EXISTS"
    assert _group_names(api).count("GroupSync: Customers") == 1
