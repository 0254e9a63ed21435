"""The People API v1 methods GroupSync uses, on Google's paths, in the discovery document's shapes.

Each view authenticates first (:func:`_caller`), then parses the request; :func:`_serve` charges
the quota, applies the seeded faults and the strict-sequential check, and runs one
:class:`PeopleState` call under the emulator's lock. google-api-python-client turns long GET
URLs into a POST with ``X-HTTP-Method-Override: GET`` and the query in a form body, so the batch
reads accept that too.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.datastructures import MultiDict

from app.google.limits import (
    COST_BATCH_DELETE,
    COST_BATCH_MUTATE,
    COST_CRITICAL_READ,
    COST_CRITICAL_WRITE,
    COST_FULL_SYNC_FIRST_PAGE,
    COST_GROUP_READ,
    COST_WRITE,
    MAX_BATCH_CREATE,
    MAX_BATCH_DELETE,
    MAX_BATCH_GET,
    MAX_BATCH_UPDATE,
    Cost,
)
from groupsync_emulator.discovery import (
    DEFAULT_GROUP_FIELDS,
    DEFAULT_READ_GROUP_FIELDS,
    READ_MASK_FIELDS,
    check_json,
    check_sources,
    invalid,
    parse_mask,
    query_parameters,
)
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.oauth import require_grant
from groupsync_emulator.oauth_state import Grant
from groupsync_emulator.people_records import Account
from groupsync_emulator.people_state import PeopleState
from groupsync_emulator.state import current_state

people_bp = Blueprint("emulator_people", __name__)

# Parameters every Google API accepts; google-api-python-client sends alt=json on each request.
_SYSTEM_PARAMETERS = frozenset(
    {
        "$.xgafv",
        "alt",
        "callback",
        "fields",
        "key",
        "prettyPrint",
        "quotaUser",
        "uploadType",
        "upload_protocol",
    }
)
_SORT_ORDERS = frozenset(
    {"LAST_MODIFIED_ASCENDING", "LAST_MODIFIED_DESCENDING", "FIRST_NAME_ASCENDING", "LAST_NAME_ASCENDING"}
)

Action = Callable[[PeopleState, Account, float], Any]


def _caller(method: str, *, write: bool) -> Grant:
    """Authenticate first, as Google does: a bad token is a 401 even when the request is malformed too."""
    g.api_method = method
    g.contacts_touched = ()
    grant = require_grant(write)
    unknown = sorted(set(_params()) - query_parameters(method) - _SYSTEM_PARAMETERS)
    if unknown:
        raise invalid(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot bind query parameter. '
            f"Field '{unknown[0]}' could not be found in request message."
        )
    if "fields" in _params():
        # A partial response would be served whole here, so code relying on it is refused outright.
        raise invalid("The emulator does not implement partial responses: leave out the fields parameter.")
    return grant


def _serve(grant: Grant, *, cost: Cost, mutation: bool, action: Action) -> Response:
    method = g.api_method
    state = current_state()
    sub = grant.sub
    with state.lock:
        people = state.people
        people.account(sub, state.now())
        people.charge(sub, cost, state.now())
        decision = people.draw_faults(sub, method, mutation)
        strict = mutation and people.strict_for(sub)
        if strict:
            people.begin_mutation(sub)
    try:
        if decision.delay_seconds:
            time.sleep(decision.delay_seconds)
        if decision.before == "drop":
            return _drop_connection()
        if decision.before is not None:
            raise _server_error(decision.before)
        with state.lock:
            # The account may have been reset while this request slept.
            result = action(state.people, state.people.account(sub, state.now()), state.now())
        if decision.after_apply == "drop":
            return _drop_connection()
        if decision.after_apply is not None:
            raise _server_error(decision.after_apply)
        return jsonify(result)
    finally:
        if strict:
            with state.lock:
                state.people.end_mutation(sub)


def _server_error(code: str) -> GoogleApiError:
    if code == "500":
        return GoogleApiError(500, "INTERNAL", "Internal error encountered.")
    return GoogleApiError(503, "UNAVAILABLE", "The service is currently unavailable.")


def _drop_connection() -> Response:
    """Close the socket without answering, as a network failure would; the client sees a connection error."""
    connection = request.environ.get("werkzeug.socket")
    if connection is None:
        raise RuntimeError("a dropped-connection fault needs the emulator's own HTTP server")
    g.connection_dropped = True
    with contextlib.suppress(OSError):  # a client that already left is dropped either way
        connection.shutdown(socket.SHUT_RDWR)
    # werkzeug's write to the shut socket fails and it records a dropped connection, not a response.
    return Response(status=500)


def _touch(names: Iterable[str]) -> None:
    g.contacts_touched = tuple(dict.fromkeys([*g.get("contacts_touched", ()), *names]))


# --- request parsing ---------------------------------------------------------------------------------


def _params() -> MultiDict[str, str]:
    if request.method == "POST" and request.headers.get("X-HTTP-Method-Override", "").upper() == "GET":
        return request.form
    return request.args


def _int_param(name: str) -> int | None:
    raw = _params().get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"Invalid value at '{name}' (TYPE_INT32), \"{raw}\"") from None


def _bool_param(name: str) -> bool:
    raw = _params().get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid(f"Invalid value at '{name}' (TYPE_BOOL), \"{raw}\"")


def _sources() -> frozenset[str]:
    return check_sources(_params().getlist("sources")) or frozenset({"READ_SOURCE_TYPE_CONTACT"})


def _mask(raw: str | None, name: str, *, required: bool) -> frozenset[str]:
    """Field mask ``name`` of the method being served, checked against what Google documents for it."""
    return parse_mask(raw, g.api_method, name, required=required)


def _person_fields(required: bool) -> frozenset[str]:
    params = _params()
    raw = params.get("personFields") or params.get("requestMask.includeField")
    return _mask(raw, "personFields", required=required) or READ_MASK_FIELDS


def _body(schema: str, where: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received: the request body must be a JSON object.")
    check_json(schema, body, where)
    return body


def _names(values: list[str], name: str, maximum: int) -> list[str]:
    if not values:
        raise invalid(f"{name} is required: give at least one resource name.")
    if len(values) > maximum:
        raise invalid(f"{name} may hold at most {maximum} resource names (got {len(values)}).")
    return values


def _read_mask(body: dict[str, Any]) -> frozenset[str] | None:
    """``None`` when the read mask is empty: Google then skips the read-back and returns no people."""
    if "readMask" not in body:
        raise invalid("readMask is required (send an empty string to skip reading the people back).")
    mask = _mask(body["readMask"], "readMask", required=False)
    return mask or None


def _person_response(requested: str, person: dict[str, Any] | None) -> dict[str, Any]:
    if person is None:
        return {
            "requestedResourceName": requested,
            "httpStatusCode": 404,
            "status": {"code": 5, "message": "Requested entity was not found."},
        }
    return {"requestedResourceName": requested, "httpStatusCode": 200, "person": person, "status": {}}


# --- people --------------------------------------------------------------------------------------------


@people_bp.post("/v1/people:createContact")
def create_contact() -> Response:
    grant = _caller("people.createContact", write=True)
    mask = _person_fields(required=False)
    _sources()
    person = _body("Person", "person")

    def action(people: PeopleState, account: Account, now: float) -> Any:
        (contact,) = people.create_contacts(account, [person], ["person"], now)
        _touch([contact.resource_name])
        return people.render_person(account, contact, mask)

    return _serve(grant, cost=COST_CRITICAL_WRITE, mutation=True, action=action)


@people_bp.get("/v1/people/<person_id>")
def get_person(person_id: str) -> Response:
    grant = _caller("people.get", write=False)
    mask = _person_fields(required=True)
    _sources()
    resource_name = f"people/{person_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch([resource_name])
        return people.render_person(account, people.get_contact(account, resource_name), mask)

    return _serve(grant, cost=COST_CRITICAL_READ, mutation=False, action=action)


@people_bp.route("/v1/people:batchGet", methods=["GET", "POST"])
def get_people() -> Response:
    grant = _caller("people.getBatchGet", write=False)
    if request.method == "POST" and request.headers.get("X-HTTP-Method-Override", "").upper() != "GET":
        raise GoogleApiError(405, "INVALID_ARGUMENT", "people.getBatchGet is a GET method.")
    mask = _person_fields(required=True)
    _sources()
    names = _names(_params().getlist("resourceNames"), "resourceNames", MAX_BATCH_GET)

    def action(people: PeopleState, account: Account, now: float) -> Any:
        found = people.get_contacts(account, names)
        _touch(c.resource_name for c in found if c is not None)
        return {
            "responses": [
                _person_response(name, None if c is None else people.render_person(account, c, mask))
                for name, c in zip(names, found, strict=True)
            ]
        }

    return _serve(grant, cost=COST_CRITICAL_READ, mutation=False, action=action)


@people_bp.patch("/v1/people/<person_id>:updateContact")
def update_contact(person_id: str) -> Response:
    grant = _caller("people.updateContact", write=True)
    update_mask = _mask(_params().get("updatePersonFields"), "updatePersonFields", required=True)
    mask = _person_fields(required=False)
    _sources()
    person = _body("Person", "person")
    resource_name = f"people/{person_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch([resource_name])
        (contact,) = people.update_contacts(account, [(resource_name, person)], update_mask, ["person"], now)
        return people.render_person(account, contact, mask)

    return _serve(grant, cost=COST_CRITICAL_WRITE, mutation=True, action=action)


@people_bp.delete("/v1/people/<person_id>:deleteContact")
def delete_contact(person_id: str) -> Response:
    grant = _caller("people.deleteContact", write=True)
    resource_name = f"people/{person_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch([resource_name])
        people.delete_contacts(account, [resource_name], now)
        return {}

    return _serve(grant, cost=COST_WRITE, mutation=True, action=action)


@people_bp.post("/v1/people:batchCreateContacts")
def batch_create_contacts() -> Response:
    grant = _caller("people.batchCreateContacts", write=True)
    body = _body("BatchCreateContactsRequest", "batch_create_contacts_request")
    entries = body.get("contacts") or []
    if not entries:
        raise invalid("contacts is required: give at least one contact to create.")
    if len(entries) > MAX_BATCH_CREATE:
        raise invalid(f"contacts may hold at most {MAX_BATCH_CREATE} contacts (got {len(entries)}).")
    read_mask = _read_mask(body)
    where = [f"contacts[{i}].contact_person" for i in range(len(entries))]
    persons = []
    for entry, path in zip(entries, where, strict=True):
        if "contactPerson" not in entry:
            raise invalid(f"{path} is required.")
        persons.append(entry["contactPerson"])

    def action(people: PeopleState, account: Account, now: float) -> Any:
        created = people.create_contacts(account, persons, where, now)
        _touch(c.resource_name for c in created)
        if read_mask is None:
            return {}
        return {
            "createdPeople": [
                _person_response(c.resource_name, people.render_person(account, c, read_mask))
                for c in created
            ]
        }

    return _serve(grant, cost=COST_BATCH_MUTATE, mutation=True, action=action)


@people_bp.post("/v1/people:batchUpdateContacts")
def batch_update_contacts() -> Response:
    grant = _caller("people.batchUpdateContacts", write=True)
    body = _body("BatchUpdateContactsRequest", "batch_update_contacts_request")
    contacts: dict[str, Any] = body.get("contacts") or {}
    if not contacts:
        raise invalid("contacts is required: give at least one contact to update.")
    if len(contacts) > MAX_BATCH_UPDATE:
        raise invalid(f"contacts may hold at most {MAX_BATCH_UPDATE} contacts (got {len(contacts)}).")
    update_mask = _mask(body.get("updateMask"), "updateMask", required=True)
    read_mask = _read_mask(body)
    updates = list(contacts.items())
    where = [f"contacts[{name}]" for name, _ in updates]

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch(name for name, _ in updates)
        updated = people.update_contacts(account, updates, update_mask, where, now)
        if read_mask is None:
            return {}
        return {
            "updateResult": {
                name: _person_response(name, people.render_person(account, c, read_mask))
                for (name, _), c in zip(updates, updated, strict=True)
            }
        }

    return _serve(grant, cost=COST_BATCH_MUTATE, mutation=True, action=action)


@people_bp.post("/v1/people:batchDeleteContacts")
def batch_delete_contacts() -> Response:
    grant = _caller("people.batchDeleteContacts", write=True)
    body = _body("BatchDeleteContactsRequest", "batch_delete_contacts_request")
    names = _names(body.get("resourceNames") or [], "resourceNames", MAX_BATCH_DELETE)

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch(names)
        people.delete_contacts(account, names, now)
        return {}

    return _serve(grant, cost=COST_BATCH_DELETE, mutation=True, action=action)


@people_bp.get("/v1/people/<person_id>/connections")
def list_connections(person_id: str) -> Response:
    grant = _caller("people.connections.list", write=False)
    if person_id != "me":
        raise invalid(f'Resource name "people/{person_id}" is not valid: only people/me has connections.')
    params = _params()
    mask = _mask(
        params.get("personFields") or params.get("requestMask.includeField"), "personFields", required=True
    )
    sort_order = params.get("sortOrder") or "LAST_MODIFIED_ASCENDING"
    if sort_order not in _SORT_ORDERS:
        raise invalid(
            f"Invalid value at 'sort_order' (type.googleapis.com/google.people.v1.SortOrder), "
            f'"{sort_order}"'
        )
    page_size = _int_param("pageSize")
    page_token = params.get("pageToken") or None
    sync_token = params.get("syncToken") or None
    request_sync_token = _bool_param("requestSyncToken")
    sources = _sources()
    full_sync_start = page_token is None and sync_token is None

    def action(people: PeopleState, account: Account, now: float) -> Any:
        response = people.list_connections(
            account,
            mask=mask,
            page_size=page_size,
            page_token=page_token,
            sync_token=sync_token,
            request_sync_token=request_sync_token,
            sort_order=sort_order,
            sources=sources,
            now=now,
        )
        _touch(p["resourceName"] for p in response.get("connections", []))
        return response

    return _serve(
        grant,
        cost=COST_FULL_SYNC_FIRST_PAGE if full_sync_start else COST_CRITICAL_READ,
        mutation=False,
        action=action,
    )


# --- contact groups --------------------------------------------------------------------------------------


def _group_fields(raw: str | None, default: frozenset[str], name: str) -> frozenset[str]:
    return _mask(raw, name, required=False) or default


def _max_members() -> int:
    value = _int_param("maxMembers") or 0
    if value < 0:
        raise invalid(f"maxMembers must not be negative (got {value}).")
    return value


@people_bp.post("/v1/contactGroups")
def create_group() -> Response:
    grant = _caller("contactGroups.create", write=True)
    body = _body("CreateContactGroupRequest", "create_contact_group_request")
    group_body = body.get("contactGroup")
    if not isinstance(group_body, dict):
        raise invalid("contactGroup is required.")
    fields = _group_fields(body.get("readGroupFields"), DEFAULT_READ_GROUP_FIELDS, "readGroupFields")

    def action(people: PeopleState, account: Account, now: float) -> Any:
        return people.render_group(account, people.create_group(account, group_body, now), fields)

    return _serve(grant, cost=COST_WRITE, mutation=True, action=action)


@people_bp.get("/v1/contactGroups")
def list_groups() -> Response:
    grant = _caller("contactGroups.list", write=False)
    params = _params()
    fields = _group_fields(params.get("groupFields"), DEFAULT_GROUP_FIELDS, "groupFields")
    page_size = _int_param("pageSize")
    page_token = params.get("pageToken") or None
    sync_token = params.get("syncToken") or None

    def action(people: PeopleState, account: Account, now: float) -> Any:
        return people.list_groups(
            account, fields=fields, page_size=page_size, page_token=page_token, sync_token=sync_token, now=now
        )

    return _serve(grant, cost=COST_GROUP_READ, mutation=False, action=action)


@people_bp.route("/v1/contactGroups:batchGet", methods=["GET", "POST"])
def batch_get_groups() -> Response:
    grant = _caller("contactGroups.batchGet", write=False)
    if request.method == "POST" and request.headers.get("X-HTTP-Method-Override", "").upper() != "GET":
        raise GoogleApiError(405, "INVALID_ARGUMENT", "contactGroups.batchGet is a GET method.")
    params = _params()
    fields = _group_fields(params.get("groupFields"), DEFAULT_GROUP_FIELDS, "groupFields")
    max_members = _max_members()
    names = _names(params.getlist("resourceNames"), "resourceNames", MAX_BATCH_GET)

    def action(people: PeopleState, account: Account, now: float) -> Any:
        responses = []
        for name in names:
            try:
                group = people.group(account, name)
            except GoogleApiError as error:
                if error.code != 404:
                    raise
                responses.append(
                    {"requestedResourceName": name, "status": {"code": 5, "message": error.message}}
                )
                continue
            rendered = people.render_group(account, group, fields, max_members)
            _touch(rendered.get("memberResourceNames", []))
            responses.append({"requestedResourceName": name, "contactGroup": rendered, "status": {}})
        return {"responses": responses}

    return _serve(grant, cost=COST_GROUP_READ, mutation=False, action=action)


@people_bp.get("/v1/contactGroups/<group_id>")
def get_group(group_id: str) -> Response:
    grant = _caller("contactGroups.get", write=False)
    fields = _group_fields(_params().get("groupFields"), DEFAULT_GROUP_FIELDS, "groupFields")
    max_members = _max_members()

    def action(people: PeopleState, account: Account, now: float) -> Any:
        group = people.group(account, f"contactGroups/{group_id}")
        rendered = people.render_group(account, group, fields, max_members)
        _touch(rendered.get("memberResourceNames", []))
        return rendered

    return _serve(grant, cost=COST_GROUP_READ, mutation=False, action=action)


@people_bp.put("/v1/contactGroups/<group_id>")
def update_group(group_id: str) -> Response:
    grant = _caller("contactGroups.update", write=True)
    body = _body("UpdateContactGroupRequest", "update_contact_group_request")
    group_body = body.get("contactGroup")
    if not isinstance(group_body, dict):
        raise invalid("contactGroup is required.")
    update_fields = _mask(body.get("updateGroupFields"), "updateGroupFields", required=False) or frozenset(
        {"name"}
    )
    fields = _group_fields(body.get("readGroupFields"), DEFAULT_READ_GROUP_FIELDS, "readGroupFields")
    resource_name = f"contactGroups/{group_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        group = people.update_group(account, resource_name, group_body, update_fields, now)
        return people.render_group(account, group, fields)

    return _serve(grant, cost=COST_WRITE, mutation=True, action=action)


@people_bp.delete("/v1/contactGroups/<group_id>")
def delete_group(group_id: str) -> Response:
    grant = _caller("contactGroups.delete", write=True)
    delete_contacts = _bool_param("deleteContacts")
    resource_name = f"contactGroups/{group_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch(people.delete_group(account, resource_name, delete_contacts, now))
        return {}

    return _serve(grant, cost=COST_WRITE, mutation=True, action=action)


@people_bp.post("/v1/contactGroups/<group_id>/members:modify")
def modify_members(group_id: str) -> Response:
    grant = _caller("contactGroups.members.modify", write=True)
    body = _body("ModifyContactGroupMembersRequest", "modify_contact_group_members_request")
    to_add = body.get("resourceNamesToAdd") or []
    to_remove = body.get("resourceNamesToRemove") or []
    resource_name = f"contactGroups/{group_id}"

    def action(people: PeopleState, account: Account, now: float) -> Any:
        _touch([*to_add, *to_remove])
        return people.modify_members(account, resource_name, to_add, to_remove, now)

    return _serve(grant, cost=COST_WRITE, mutation=True, action=action)
