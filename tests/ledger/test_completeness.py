"""Completeness: every request GroupSync sends to Google is in the ledger, one to one, in order.

The main scenarios run against the emulator over real HTTP (connect, initial sync, token
refresh, incremental sync, faults with retries and dropped connections, disconnect), and the
emulator's own request log is then matched with the ledger entry by entry: each request's
write-ahead entry, and the outcome entry paired with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership
from app.extensions import db
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_database
from app.sync.models import RunOutcome
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.ledger.helpers import request_outcomes
from tests.sync.engine import World, faults, person

NOT_GROUPSYNC = {"oauth2.authorize"}
"""Requests the user's browser makes to Google, not GroupSync."""

NO_ANSWER = {"connection_dropped", "timeout", "unreachable"}
"""Ledger outcomes of a request Google received but whose answer GroupSync never read."""


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> Iterator[World]:
    yield World(app, google, factory, signed_in)
    faults(google)


def _google_requests(google: HooksClient) -> list[dict[str, Any]]:
    return [e for e in google.log() if e["method"] not in NOT_GROUPSYNC]


def _ledger_requests(account_id: int, tag: EventTag) -> list[LedgerEntry]:
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.seq)
    ).all()
    request_outcomes(entries)
    return [e for e in entries if e.tag == tag.value]


def _run_until_ok(world: World) -> None:
    for _ in range(20):
        run = world.run()
        assert run is not None
        if run.outcome is RunOutcome.OK:
            return
    pytest.fail("no run succeeded in 20 attempts")


def test_ledger_matches_the_emulator_log_one_to_one(
    world: World, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    world.upsert(*(person(f"c{i}", f"N{i}") for i in range(40)))
    _run_until_ok(world)

    world.google.advance_clock(4000)  # the access token has expired at Google: a refresh must follow
    world.upsert(*(person(f"c{i}", f"M{i}") for i in range(0, 40, 4)))
    _run_until_ok(world)

    world.upsert(*(person(f"n{i}", f"New{i}") for i in range(5)))
    world.leave_list("c1", "c5")
    faults(world.google, seed=7, error_rate=0.3, drop_rate=0.2, after_apply_rate=0.3, after_apply="drop")
    _run_until_ok(world)
    faults(world.google)

    client = signed_in(world.member)
    page = client.get("/google/")
    assert (
        client.post(
            "/google/disconnect", data={"csrf_token": csrf_token(page.text), "confirmed": "yes"}
        ).status_code
        == 303
    )

    sent = _google_requests(world.google)
    # Write-ahead entries are in the order the requests were sent; each outcome is paired by request id.
    started = _ledger_requests(world.account.id, EventTag.GOOGLE_REQUEST_STARTED)
    recorded = _ledger_requests(world.account.id, EventTag.GOOGLE_REQUEST)
    outcome_of = {json.loads(e.detail)["request_id"]: e for e in recorded}
    pairs = list(zip(sent, started, strict=False))
    assert len(started) == len(sent), [(e["method"], e["status"]) for e in sent[len(pairs) :]]
    for request, start in pairs:
        entry = outcome_of[json.loads(start.detail)["request_id"]]
        assert entry.method is not None
        assert entry.method == request["method"] or entry.method.startswith(request["method"] + "."), (
            f"ledger seq {start.seq} says {entry.method}, Google served {request['method']}"
        )
        if entry.outcome not in NO_ANSWER:
            assert entry.outcome == str(request["status"]), f"ledger seq {entry.seq}"
        assert entry.user_id == start.user_id == world.member.user_id
        # Until the ID token is checked, nobody knows which Google account answered.
        assert entry.google_account is not None or entry.method == "oauth2.certs"
    methods = {e["method"] for e in sent}
    assert {
        "oauth2.certs",
        "oauth2.token",
        "oauth2.revoke",
        "people.batchCreateContacts",
        "people.batchUpdateContacts",
    } <= methods
    assert any(e.method == "oauth2.token.refresh" for e in recorded)
    assert any(e.outcome in NO_ANSWER for e in recorded), "the fault plan dropped no connection"
    assert any(e["status"] >= 500 for e in sent), "the fault plan injected no server error"
    assert verify_database(db.session).ok
