"""The People test hooks: seeding, acting as the Google user, canonical snapshots, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from googleapiclient.discovery import Resource
from googleapiclient.errors import HttpError

from groupsync_emulator.cli import RunningEmulator, serve_in_thread
from groupsync_emulator.hooks import HookError, HooksClient
from groupsync_emulator.server import create_emulator
from groupsync_emulator.state import EmulatorMode, EmulatorSettings
from tests.emulator.conftest import (
    ADA,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTACTS,
    OLENA,
    REDIRECT_URI,
    TIMEOUT,
    OAuthDriver,
    plant_state,
    text_pickle,
)
from tests.emulator.test_people_api import people_service

SEED = {
    "groups": [{"name": "Family"}, {"name": "Book club", "clientData": [{"key": "other-app", "value": "7"}]}],
    "contacts": [
        {
            "person": {"names": [{"givenName": "Mum"}], "phoneNumbers": [{"value": "+380 44 123 4567"}]},
            "groups": ["Family", "starred"],
        },
        {
            "person": {"names": [{"givenName": "Reader"}], "emailAddresses": [{"value": "r@example.org"}]},
            "groups": ["Book club"],
        },
        {"person": {"names": [{"givenName": "Plain"}]}},
    ],
}


@pytest.fixture
def api(emulator: RunningEmulator, oauth: OAuthDriver) -> Resource:
    service, _ = people_service(emulator.url, oauth.tokens(scope=CONTACTS)["access_token"])
    return service


def snapshot_bytes(emulator: RunningEmulator, identity: str = ADA) -> bytes:
    response = requests.get(
        f"{emulator.url}/__emulator__/people/accounts/{identity}/snapshot", timeout=TIMEOUT
    )
    assert response.status_code == 200
    return response.content


def test_seed_then_read_through_the_api(api: Resource, hooks: HooksClient) -> None:
    seeded = hooks.call("POST", f"people/accounts/{ADA}/seed", SEED)
    assert set(seeded["groups"]) == {"Family", "Book club"}
    assert len(seeded["contacts"]) == 3
    family = api.contactGroups().get(resourceName=seeded["groups"]["Family"], maxMembers=10).execute()
    assert family["memberResourceNames"] == [seeded["contacts"][0]]
    members = hooks.call(
        "GET", f"people/accounts/{ADA}/groups/{seeded['groups']['Book club'].split('/')[1]}/contacts"
    )
    assert [m["names"][0]["givenName"] for m in members["contacts"]] == ["Reader"]
    plain = api.people().get(resourceName=seeded["contacts"][2], personFields="memberships").execute()
    assert plain["memberships"][0]["contactGroupMembership"]["contactGroupId"] == "myContacts"


def test_snapshot_is_canonical_and_unchanged_by_reads(
    api: Resource, hooks: HooksClient, emulator: RunningEmulator
) -> None:
    seeded = hooks.call("POST", f"people/accounts/{ADA}/seed", SEED)
    before = snapshot_bytes(emulator)
    assert before == snapshot_bytes(emulator)
    assert b"\n" not in before, "canonical JSON has no whitespace"
    assert b": " not in before
    api.people().connections().list(resourceName="people/me", personFields="names,memberships").execute()
    api.contactGroups().list().execute()
    assert snapshot_bytes(emulator) == before

    api.contactGroups().members().modify(
        resourceName="contactGroups/starred", body={"resourceNamesToAdd": [seeded["contacts"][1]]}
    ).execute()
    after = snapshot_bytes(emulator)
    assert after != before
    assert snapshot_bytes(emulator, OLENA) != after, "each account has its own snapshot"


def test_acting_as_the_google_user(api: Resource, hooks: HooksClient) -> None:
    seeded = hooks.call("POST", f"people/accounts/{ADA}/seed", SEED)
    mum, reader, plain = (name.split("/")[1] for name in seeded["contacts"])
    family = seeded["groups"]["Family"].split("/")[1]
    club = seeded["groups"]["Book club"].split("/")[1]
    original = (
        api.people().get(resourceName=seeded["contacts"][0], personFields="names,phoneNumbers").execute()
    )

    edited = hooks.call(
        "POST", f"people/accounts/{ADA}/contacts/{mum}/edit", {"names": [{"givenName": "Mother"}]}
    )
    assert edited["names"][0]["givenName"] == "Mother"
    assert edited["phoneNumbers"] == original["phoneNumbers"], "fields the user did not touch stay"
    assert edited["etag"] != original["etag"]

    removed = hooks.call(
        "POST", f"people/accounts/{ADA}/groups/{family}/members", {"remove": [f"people/{mum}"]}
    )
    assert removed == {}
    hooks.call("POST", f"people/accounts/{ADA}/groups/{club}/members", {"add": [f"people/{plain}"]})
    renamed = hooks.call("POST", f"people/accounts/{ADA}/groups/{club}/rename", {"name": "Readers"})
    assert renamed["name"] == "Readers"
    assert api.contactGroups().get(resourceName=f"contactGroups/{club}").execute()["memberCount"] == 2

    hooks.call("POST", f"people/accounts/{ADA}/contacts/{reader}/delete", {})
    deleted = hooks.call("POST", f"people/accounts/{ADA}/groups/{family}/delete", {"deleteContacts": False})
    assert deleted == {"contactsTouched": []}
    created = hooks.call("POST", f"people/accounts/{ADA}/groups", {"name": "New label"})
    assert created["resourceName"].startswith("contactGroups/")
    names = {g["name"] for g in api.contactGroups().list().execute()["contactGroups"]}
    assert {"Readers", "New label"} <= names
    assert "Family" not in names


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("people/accounts/nobody@example.com/seed", {}),
        (
            f"people/accounts/{ADA}/seed",
            {"contacts": [{"person": {"names": [{}]}, "groups": ["No such label"]}]},
        ),
        (
            f"people/accounts/{ADA}/seed",
            {"groups": [{"name": "Kept?"}], "contacts": [{"person": {"shoeSize": 1}}]},
        ),
        (f"people/accounts/{ADA}/seed", {"groups": [{"name": ""}]}),
        (f"people/accounts/{ADA}/limits", {"quotas": {"sneaky_requests": 1}}),
        (f"people/accounts/{ADA}/limits", {"strict_sequential": "yes"}),
        ("people/sync-tokens/age", {"seconds": -1}),
    ],
)
def test_hooks_refuse_bad_input_naming_it(hooks: HooksClient, path: str, body: dict[str, object]) -> None:
    with pytest.raises(HookError) as excinfo:
        hooks.call("POST", path, body)
    assert excinfo.value.status == 400
    snapshot = hooks.call("GET", f"people/accounts/{ADA}/snapshot")
    assert snapshot["contacts"] == {}, "nothing half-seeded"
    assert {g["groupType"] for g in snapshot["groups"].values()} == {"SYSTEM_CONTACT_GROUP"}


def test_people_hooks_do_not_exist_in_standalone_mode() -> None:
    client = create_emulator(EmulatorSettings(mode=EmulatorMode.STANDALONE)).test_client()
    assert client.post("/__emulator__/people/faults", json={"plan": None}).status_code == 404
    assert client.get(f"/__emulator__/people/accounts/{ADA}/snapshot").status_code == 404


def test_people_state_survives_a_restart_with_a_state_file(tmp_path: Path) -> None:
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=tmp_path / "emulator.sqlite3")
    first = serve_in_thread(settings)
    try:
        HooksClient(first.url).call("POST", f"people/accounts/{ADA}/seed", SEED)
        # The state is written after each request; a hook request is one.
        before = snapshot_bytes(first)
    finally:
        first.stop()
    second = serve_in_thread(settings)
    try:
        assert snapshot_bytes(second) == before
    finally:
        second.stop()


def _seeded_with_a_token(emulator: RunningEmulator) -> tuple[HooksClient, str]:
    """Ada's account seeded, and an access token of hers for the People API."""
    hooks = HooksClient(emulator.url)
    hooks.register_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    hooks.call("POST", f"people/accounts/{ADA}/seed", SEED)
    return hooks, OAuthDriver(emulator.url, hooks).tokens(scope=CONTACTS)["access_token"]


def test_a_state_file_holding_quota_usage_survives_a_restart(tmp_path: Path) -> None:
    """A demo run under a quota charges units per bucket; the state file keeps them across a restart."""
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=tmp_path / "emulator.sqlite3")
    first = serve_in_thread(settings)
    try:
        hooks, token = _seeded_with_a_token(first)
        hooks.call("POST", f"people/accounts/{ADA}/limits", {"quotas": {"read_requests": 1}})
        api, _ = people_service(first.url, token)
        api.contactGroups().list().execute()
        before = snapshot_bytes(first)
    finally:
        first.stop()
    second = serve_in_thread(settings)
    try:
        assert snapshot_bytes(second) == before
        api, _ = people_service(second.url, token)
        with pytest.raises(HttpError) as refused:
            api.contactGroups().list().execute()
        assert refused.value.resp.status == 429, "the unit spent before the restart still counts"
    finally:
        second.stop()


def test_a_state_file_naming_the_people_records_in_people_state_still_loads(tmp_path: Path) -> None:
    """A state file written before people_state.py was split names its records there."""
    path = tmp_path / "emulator.sqlite3"
    settings = EmulatorSettings(mode=EmulatorMode.DEMO, state_file=path)
    first = serve_in_thread(settings)
    try:
        hooks, token = _seeded_with_a_token(first)
        hooks.call("POST", "people/faults", {"identity": ADA, "plan": {"latency_ms": 1, "seed": 7}})
        api, _ = people_service(first.url, token)
        # A sync token and a drawn fault plan put _Token and _PlanRuntime in the state too.
        listed = (
            api.people()
            .connections()
            .list(resourceName="people/me", personFields="names", requestSyncToken=True)
            .execute()
        )
        before = snapshot_bytes(first)
        blob = text_pickle(first)
    finally:
        first.stop()
    old = blob.replace(b"cgroupsync_emulator.people_records\n", b"cgroupsync_emulator.people_state\n")
    assert b"people_records" not in old
    for name in (
        "Account",
        "Contact",
        "Group",
        "PeopleSettings",
        "Quotas",
        "FaultPlan",
        "_Token",
        "_PlanRuntime",
    ):
        assert f"cgroupsync_emulator.people_state\n{name}\n".encode() in old, name
    plant_state(path, old)

    second = serve_in_thread(settings)
    try:
        assert snapshot_bytes(second) == before
        api, _ = people_service(second.url, token)
        synced = (
            api.people()
            .connections()
            .list(resourceName="people/me", personFields="names", syncToken=listed["nextSyncToken"])
            .execute()
        )
        assert "connections" not in synced, "nothing changed since the sync token was issued"
    finally:
        second.stop()
