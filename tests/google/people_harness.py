"""A People client for an emulated Google account, and what tests observe around it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from google.oauth2.credentials import Credentials
from sqlalchemy import select

from app.accounts.models import Account
from app.config import Settings
from app.extensions import db
from app.google.endpoints import GoogleEndpoints
from app.google.pacing import Pacer
from app.google.people import (
    ClientDataTag,
    GroupContacts,
    GroupScope,
    PeopleClient,
    RequestContext,
    RetryPolicy,
)
from app.ledger.events import Trigger
from app.ledger.models import LedgerEntry
from app.ledger.services import GoogleRequestLedger
from groupsync_emulator.hooks import HooksClient
from tests.google.connecting import ADA
from tests.google.helpers import FakeClock
from tests.ledger.helpers import request_outcomes

MARKER = ClientDataTag("groupsync", "sync:1")
GROUP_NAME = "Acme CRM · Customers"


def tagged(crm_id: str, given: str) -> dict[str, Any]:
    return {
        "names": [{"givenName": given}],
        "clientData": [MARKER.as_json(), {"key": "crm_id", "value": crm_id}],
    }


class Harness:
    """A People client for Ada's emulated account, with what the tests observe around it."""

    def __init__(self, app: Flask, google: HooksClient, account: Account, credentials: Credentials) -> None:
        self.settings: Settings = app.config["GROUPSYNC"]
        self.google = google
        self.account = account
        self.credentials = credentials
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] = lambda _: None
        self.log_start = len(google.log())
        self.timeout = 5.0
        self.pacer_clock = FakeClock()

    def client(self) -> PeopleClient:
        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.on_sleep(seconds)

        context = RequestContext(
            account_id=self.account.id, user_id=None, google_sub=ADA, trigger=Trigger.SYSTEM, actor="system"
        )
        return PeopleClient(
            self.credentials,
            GoogleEndpoints.for_settings(self.settings),
            context,
            GoogleRequestLedger(db.session),
            # Its own fake clock: a Retry-After a test serves must not make the suite sleep.
            Pacer(10_000, clock=self.pacer_clock, sleep=self.pacer_clock.sleep),
            timeout_seconds=self.timeout,
            retry=RetryPolicy(max_attempts=4),
            sleep=sleep,
        )

    def seed_personal(self) -> dict[str, Any]:
        seeded: dict[str, Any] = self.google.call(
            "POST",
            f"people/accounts/{ADA}/seed",
            {
                "groups": [{"name": "Book club"}],
                "contacts": [
                    {"person": {"names": [{"givenName": "Mum"}]}, "groups": ["Book club"]},
                    {
                        "person": {
                            "names": [{"givenName": "Dentist"}],
                            "clientData": [{"key": "x", "value": "y"}],
                        }
                    },
                ],
            },
        )
        return seeded

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            json.dumps(self.google.call("GET", f"people/accounts/{ADA}/snapshot"))
        )
        return data

    def personal_part(self, ours: str) -> str:
        """Canonical bytes of every contact and group that is not GroupSync's."""
        snap = self.snapshot()
        contacts = {
            name: c
            for name, c in snap["contacts"].items()
            if ours not in c["memberships"] and not MARKER.found_in(c["fields"].get("clientData", []))
        }
        groups = {name: g for name, g in snap["groups"].items() if name != ours}
        return json.dumps({"contacts": contacts, "groups": groups}, sort_keys=True)

    def log(self) -> list[tuple[str, int]]:
        return [(e["method"], e["status"]) for e in self.google.log(self.log_start)]

    def ledger(self) -> list[tuple[str, str]]:
        db.session.flush()
        entries = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == self.account.id).order_by(LedgerEntry.seq)
        ).all()
        return [(e.method or "", e.outcome) for e in request_outcomes(entries)]

    def group_members(self, group: str) -> list[dict[str, Any]]:
        gid = group.removeprefix("contactGroups/")
        members: list[dict[str, Any]] = self.google.call(
            "GET", f"people/accounts/{ADA}/groups/{gid}/contacts"
        )["contacts"]
        return members

    def faults(self, **plan: Any) -> None:
        self.google.call("POST", "people/faults", {"identity": ADA, "plan": plan})


def open_group(client: PeopleClient, name: str = GROUP_NAME) -> GroupContacts:
    group = client.create_group(name, MARKER)
    return client.contacts(GroupScope(group.resource_name, MARKER))
