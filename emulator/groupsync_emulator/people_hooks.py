"""People test hooks under ``/__emulator__/people/``: seed an account, act as the Google user, read what
is stored, snapshot an account canonically, age sync tokens, and configure faults, quotas and
strict mode.

Accounts are named by a test identity's ``sub`` or e-mail address. Hooks bypass quotas, faults
and the request log: they are the test harness, not a client of Google.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from groupsync_emulator.discovery import READ_MASK_FIELDS, invalid
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.people_records import (
    SYNC_TOKEN_LIFETIME,
    Account,
    Contact,
    FaultPlan,
    Quotas,
    canonical_json,
)
from groupsync_emulator.people_state import PeopleState
from groupsync_emulator.state import EmulatorState, current_state

_Parsed = TypeVar("_Parsed")

people_hooks_bp = Blueprint("emulator_people_hooks", __name__)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def _settings_object(
    body: Mapping[str, Any], key: str, parse: Callable[[Mapping[str, Any]], _Parsed], what: str
) -> _Parsed | None:
    """``body[key]`` parsed, or ``None`` when it is null or absent; anything else is a 400 naming ``key``."""
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid(f"{key}: {what} or null is required")
    try:
        return parse(raw)
    except (TypeError, ValueError) as exc:
        raise invalid(f"{key}: {exc}") from None


def _sub(state: EmulatorState, identity: str) -> str:
    found = state.oauth.find_identity(identity)
    if found is None:
        raise invalid(f"no test identity is '{identity}'")
    return found.sub


def _account(state: EmulatorState, identity: str) -> Account:
    return state.people.account(_sub(state, identity), state.now())


def _optional_identity(state: EmulatorState, body: Mapping[str, Any]) -> str | None:
    identity = body.get("identity")
    if identity is None:
        return None
    if not isinstance(identity, str):
        raise invalid("identity: a test identity's sub or e-mail address (or null for every account)")
    return _sub(state, identity)


def _memberships(account: Account, labels: Any, where: str) -> list[dict[str, Any]]:
    """Memberships for group names, system group ids (``starred``) or resource names."""
    if not isinstance(labels, list):
        raise invalid(f"{where}: a list of group names is required")
    memberships = []
    for label in labels:
        group = next((g for g in account.live_groups() if label in (g.name, g.gid, g.resource_name)), None)
        if group is None:
            raise invalid(f"{where}: no contact group is named '{label}'")
        memberships.append({"contactGroupMembership": {"contactGroupResourceName": group.resource_name}})
    return memberships


@people_hooks_bp.post("/people/accounts/<identity>/seed")
def seed(identity: str) -> tuple[Response, int]:
    """Personal contacts and groups the user had before GroupSync: ``{"groups": [{"name", "clientData"}],
    "contacts": [{"person": Person, "groups": [name, ...]}]}``; contacts without groups go to myContacts."""
    body = _body()
    groups = body.get("groups") or []
    contacts = body.get("contacts") or []
    if not isinstance(groups, list) or not isinstance(contacts, list):
        raise invalid("groups and contacts must be lists")
    state = current_state()
    with state.lock:
        people, now = state.people, state.now()
        account = _account(state, identity)
        untouched = copy.deepcopy(account)
        try:
            created_groups, created_contacts = _seed(people, account, groups, contacts, now)
        except GoogleApiError:
            # A seed is all or nothing, so a typo in one contact cannot leave half an account behind.
            people.accounts[account.sub] = untouched
            raise
    return jsonify({"groups": created_groups, "contacts": [c.resource_name for c in created_contacts]}), 201


def _seed(
    people: PeopleState, account: Account, groups: list[Any], contacts: list[Any], now: float
) -> tuple[dict[str, str], list[Contact]]:
    created_groups = {}
    for index, group in enumerate(groups):
        if not isinstance(group, dict):
            raise invalid(f"groups[{index}] must be an object with a name")
        created = people.create_group(account, group, now)
        created_groups[created.name] = created.resource_name
    persons = []
    for index, entry in enumerate(contacts):
        if not isinstance(entry, dict) or not isinstance(entry.get("person"), dict):
            raise invalid(f"contacts[{index}] must be an object with a person")
        person = dict(entry["person"])
        if "groups" in entry:
            person["memberships"] = _memberships(account, entry["groups"], f"contacts[{index}].groups")
        persons.append(person)
    where = [f"contacts[{i}].person" for i in range(len(persons))]
    return created_groups, people.create_contacts(account, persons, where, now)


@people_hooks_bp.post("/people/accounts/<identity>/contacts/<contact_id>/edit")
def edit_contact(identity: str, contact_id: str) -> Response:
    """The user edits a contact: each field in the body replaces the stored one (``[]`` clears it)."""
    person = _body()
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        contact = state.people.user_edit_contact(account, f"people/{contact_id}", person, state.now())
        return jsonify(state.people.render_person(account, contact, READ_MASK_FIELDS))


@people_hooks_bp.post("/people/accounts/<identity>/contacts/<contact_id>/delete")
def delete_contact(identity: str, contact_id: str) -> Response:
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        state.people.delete_contacts(account, [f"people/{contact_id}"], state.now())
    return jsonify({})


@people_hooks_bp.post("/people/accounts/<identity>/groups")
def create_group(identity: str) -> tuple[Response, int]:
    body = _body()
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        group = state.people.create_group(account, body, state.now())
    return jsonify({"resourceName": group.resource_name, "name": group.name}), 201


@people_hooks_bp.post("/people/accounts/<identity>/groups/<group_id>/rename")
def rename_group(identity: str, group_id: str) -> Response:
    name = _body().get("name")
    state = current_state()
    with state.lock:
        people, account = state.people, _account(state, identity)
        resource_name = f"contactGroups/{group_id}"
        current = people.group(account, resource_name)
        body = {"name": name, "etag": people.group_etag(account, current)}
        group = people.update_group(account, resource_name, body, frozenset({"name"}), state.now())
    return jsonify({"resourceName": group.resource_name, "name": group.name})


@people_hooks_bp.post("/people/accounts/<identity>/groups/<group_id>/delete")
def delete_group(identity: str, group_id: str) -> Response:
    delete_contacts = _body().get("deleteContacts", False)
    if not isinstance(delete_contacts, bool):
        raise invalid("deleteContacts: true or false is required")
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        touched = state.people.delete_group(
            account, f"contactGroups/{group_id}", delete_contacts, state.now()
        )
    return jsonify({"contactsTouched": touched})


@people_hooks_bp.post("/people/accounts/<identity>/groups/<group_id>/members")
def change_members(identity: str, group_id: str) -> Response:
    """The user adds contacts to or removes them from a label: ``{"add": [...], "remove": [...]}``."""
    body = _body()
    add, remove = body.get("add") or [], body.get("remove") or []
    if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in (add, remove)):
        raise invalid("add and remove must be lists of people/c... resource names")
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        result = state.people.modify_members(account, f"contactGroups/{group_id}", add, remove, state.now())
    return jsonify(result)


@people_hooks_bp.get("/people/accounts/<identity>/groups/<group_id>/contacts")
def group_contacts(identity: str, group_id: str) -> Response:
    """Every field of every member of a group, for assertions."""
    state = current_state()
    with state.lock:
        people, account = state.people, _account(state, identity)
        group = people.group(account, f"contactGroups/{group_id}")
        contacts = [
            people.render_person(account, c, READ_MASK_FIELDS) for c in people.members(account, group)
        ]
    return jsonify({"contacts": contacts})


@people_hooks_bp.get("/people/accounts/<identity>/snapshot")
def snapshot(identity: str) -> Response:
    """The account's contacts and groups as canonical JSON: equal bytes mean nothing was written."""
    state = current_state()
    with state.lock:
        data = state.people.snapshot(_account(state, identity))
    return Response(canonical_json(data), mimetype="application/json")


@people_hooks_bp.post("/people/sync-tokens/age")
def age_sync_tokens() -> Response:
    """Make issued sync tokens older (by default just past Google's seven-day expiry)."""
    body = _body()
    seconds = body.get("seconds", SYNC_TOKEN_LIFETIME + 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise invalid("seconds: a non-negative number is required")
    state = current_state()
    with state.lock:
        aged = state.people.age_sync_tokens(float(seconds), _optional_identity(state, body))
    return jsonify({"aged": aged})


@people_hooks_bp.post("/people/faults")
def configure_faults() -> Response:
    """``{"identity": sub|email|null, "plan": {FaultPlan fields}|null}``; null identity: every account."""
    body = _body()
    plan = _settings_object(body, "plan", FaultPlan.from_json, "an object of fault settings")
    state = current_state()
    with state.lock:
        state.people.configure_faults(_optional_identity(state, body), plan, state.now())
    return jsonify({"plan": plan.to_json() if plan is not None else None})


@people_hooks_bp.post("/people/accounts/<identity>/limits")
def configure_limits(identity: str) -> Response:
    """Per-account quotas and strict mode: ``{"quotas": {bucket: per_minute|null}|null, "strict_sequential":
    bool|null}``; null restores the emulator-wide setting."""
    body = _body()
    strict = body.get("strict_sequential")
    if strict is not None and not isinstance(strict, bool):
        raise invalid("strict_sequential: true, false or null is required")
    quotas = _settings_object(body, "quotas", Quotas.from_json, "an object of per-minute limits")
    state = current_state()
    with state.lock:
        account = _account(state, identity)
        account.quotas = quotas
        account.strict_sequential = strict
    return jsonify({"quotas": body.get("quotas"), "strict_sequential": strict})
