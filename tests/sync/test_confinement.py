"""GroupSync receives nothing of a contact outside its group, nor the name of a group it did not create.

Every answer the emulator gave GroupSync is kept (the emulator's log with bodies) and walked:
each person in it must be a member of a group GroupSync created, each group one GroupSync
created, except the bare member count of ``contactGroups/myContacts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership
from app.db import utcnow
from app.extensions import db
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.sync.mapping import MARKER_KEY
from app.sync.models import RunOutcome
from app.sync.services import recreate_group
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import ADA
from tests.ledger.helpers import request_outcomes
from tests.sync.engine import PEOPLE_PREFIXES, World, faults, person
from tests.sync.test_faults import run_until_ok

ALLOWED_METHODS = frozenset(
    {
        "contactGroups.create",
        "contactGroups.get",
        "contactGroups.members.modify",
        "people.getBatchGet",
        "people.batchCreateContacts",
        "people.batchUpdateContacts",
        "people.batchDeleteContacts",
    }
)
MY_CONTACTS_COUNT_KEYS = frozenset({"resourceName", "etag", "memberCount"})


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> Iterator[World]:
    google.keep_bodies()
    yield World(app, google, factory, signed_in)
    faults(google)
    google.keep_bodies(on=False)


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _groups_of(person: dict[str, Any]) -> set[str]:
    return {
        str(m["contactGroupMembership"].get("contactGroupResourceName"))
        for m in person.get("memberships") or ()
        if "contactGroupMembership" in m
    }


def answers(world: World) -> list[tuple[dict[str, Any], Any]]:
    """Every People API answer GroupSync received since the world began, parsed."""
    received = []
    for entry in world.google.log(world.start):
        if not entry["method"].startswith(PEOPLE_PREFIXES) or entry["sub"] != ADA:
            continue
        body = entry.get("response") or ""
        # A dropped connection delivered nothing.
        received.append((entry, json.loads(body) if body else None))
    return received


def assert_nothing_from_outside(world: World) -> int:
    """Walk every answer; returns how many persons GroupSync received (all inside its groups)."""
    received = answers(world)
    assert received, "no answer was logged"
    ours = {
        str(d["resourceName"])
        for _, body in received
        for d in _dicts(body)
        if str(d.get("resourceName", "")).startswith("contactGroups/")
        and any(
            e.get("key") == MARKER_KEY and e.get("value") == world.sync.tag for e in d.get("clientData") or ()
        )
    }
    assert ours, "GroupSync's own group never showed up"
    persons = 0
    problems = []
    for entry, body in received:
        if entry["method"] not in ALLOWED_METHODS:
            problems.append(f"#{entry['index']} {entry['method']}: a method GroupSync must not call")
        for item in _dicts(body):
            name = str(item.get("resourceName", ""))
            if name.startswith("people/"):
                persons += 1
                if not _groups_of(item) & ours:
                    problems.append(f"#{entry['index']} {entry['method']}: {name} from outside the group")
            elif (
                name.startswith("contactGroups/")
                and name not in ours
                and (name != "contactGroups/myContacts" or not item.keys() <= MY_CONTACTS_COUNT_KEYS)
            ):
                problems.append(f"#{entry['index']} {entry['method']}: group {name} {sorted(item)}")
    assert problems == []
    return persons


def assert_ledger_counts_records(world: World) -> None:
    """Per read, the ledger holds how many records came back: the answer's own count."""
    db.session.flush()
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == world.account.id).order_by(LedgerEntry.seq)
    ).all()
    recorded = [
        (e.method, e.records)
        for e in request_outcomes(entries)
        if e.tag == EventTag.GOOGLE_REQUEST and e.method == "people.getBatchGet" and e.outcome == "200"
    ]
    answered = [
        ("people.getBatchGet", len(body.get("responses", ())))
        for entry, body in answers(world)
        if entry["method"] == "people.getBatchGet" and entry["status"] == 200 and body is not None
    ]
    assert recorded == answered
    assert recorded, "no read happened"


def ok(world: World, **options: Any) -> None:
    run = world.run(**options)
    assert run is not None
    assert run.outcome is RunOutcome.OK, run.message


def test_no_scenario_receives_a_contact_or_group_name_from_outside_the_group(world: World) -> None:
    # The user already has a group of the name GroupSync wants: Google's 409 moves it to "(2)".
    world.user("groups", {"name": "Acme CRM · Customers"})
    world.personal_before = world.personal_part()
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(8)))
    ok(world)
    assert world.reload().group_name == "Acme CRM · Customers (2)"
    ok(world)  # nothing changed

    world.upsert(person("c1", "Renamed"), person("c9", "New"))
    world.leave_list("c2")
    world.delete_in_crm("c3")
    ok(world)

    # The user edits, deletes, takes one out, files one of theirs into GroupSync's group, renames it.
    found = world.by_crm_id()
    rn = {crm_id: contacts[0]["resourceName"] for crm_id, contacts in found.items()}
    gid = world.group.removeprefix("contactGroups/")
    world.user(f"contacts/{rn['c4'].removeprefix('people/')}/edit", {"names": [{"givenName": "Edited"}]})
    world.user(f"contacts/{rn['c5'].removeprefix('people/')}/delete")
    world.user("groups/myContacts/members", {"add": [rn["c6"]]})
    world.user(f"groups/{gid}/members", {"remove": [rn["c6"]]})
    mum = world.personal["contacts"][0]
    world.user(f"groups/{gid}/members", {"add": [mum]})
    world.user(f"groups/{gid}/rename", {"name": "My customers"})
    world.personal_before = world.personal_part()
    ok(world)
    later = utcnow() + timedelta(seconds=world.settings.sync_repair_interval_seconds, minutes=1)
    ok(world, now=lambda: later)  # a repair run: every member's etag compared

    # Leaving, but kept by the user in an own group: only leaves GroupSync's group.
    book_club = world.personal["groups"]["Book club"].removeprefix("contactGroups/")
    world.user(f"groups/{book_club}/members", {"add": [rn["c7"]]})
    world.leave_list("c7")
    world.personal_before = world.personal_part()
    ok(world)

    # A create applied but unanswered is adopted from the group's members.
    world.upsert(*(person(f"n{i}", f"New{i}") for i in range(3)))
    faults(
        world.google,
        after_apply_rate=1.0,
        after_apply="drop",
        methods=["people.batchCreateContacts"],
        times=1,
    )
    assert world.run().outcome is RunOutcome.FAILED  # type: ignore[union-attr]
    ok(world)
    assert {k: v for k, v in world.tagged_anywhere().items() if k.startswith("n")} == dict.fromkeys(
        ["n0", "n1", "n2"], 1
    )

    # The user deletes the group; GroupSync stops, and on request makes a new one.
    world.user(f"groups/{gid}/delete", {"deleteContacts": False})
    world.personal_before = world.personal_part()
    assert world.run().outcome is RunOutcome.FAILED  # type: ignore[union-attr]
    recreate_group(db.session, world.reload())
    ok(world)

    persons = assert_nothing_from_outside(world)
    assert persons > 0
    assert_ledger_counts_records(world)
    # Mum was read (scope fields only) while she sat in GroupSync's group, and never changed.
    assert world.personal_part() == world.personal_before


def test_seeded_faults_receive_nothing_from_outside_the_group(world: World) -> None:
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(300)))
    faults(world.google, seed=23, error_rate=0.1, drop_rate=0.1, after_apply_rate=0.25, after_apply="drop")
    run_until_ok(world)
    world.upsert(*(person(f"c{i}", f"M{i}") for i in range(0, 300, 3)))
    world.leave_list(*(f"c{i}" for i in range(1, 60, 3)))
    faults(world.google, seed=24, error_rate=0.15, drop_rate=0.1, after_apply_rate=0.3, after_apply="503")
    run_until_ok(world)
    faults(world.google)

    assert assert_nothing_from_outside(world) > 0
    expected = {
        f"c{i}": (f"M{i}" if i % 3 == 0 else f"N{i}") for i in range(300) if not (i % 3 == 1 and i < 60)
    }
    world.assert_mirrors(expected)
