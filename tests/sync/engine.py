"""A real sync world for end-to-end tests: CRM rows, a connected Google account in the emulator, runs.

Everything is real: the member connects through the connect flow (disclosure, consent,
code exchange), credentials come from :class:`UserOAuthCredentialsSource`, and every
request goes over HTTP to the emulator. Only the retry waits are skipped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership
from app.config import Settings
from app.crm.services import change_members, delete_contacts, grant_access, put_list, store_contact_data
from app.crm.values import ContactData
from app.db import utcnow
from app.extensions import db
from app.google.credentials import UserOAuthCredentialsSource
from app.google.endpoints import GoogleEndpoints
from app.google.pacing import Pacer
from app.google.people import PeopleClient, RequestContext, RetryPolicy
from app.ledger.services import GoogleRequestLedger
from app.sync.mapping import MARKER_KEY, read_tag
from app.sync.models import ContactSync, SyncedContact, SyncRun
from app.sync.services import RunOptions, enable_sync, run_sync
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import ADA, connect, connection_of, vault_of

PEOPLE_PREFIXES = ("people.", "contactGroups.")

PERSONAL = {
    "groups": [{"name": "Book club"}, {"name": "Neighbours"}],
    "contacts": [
        {
            "person": {"names": [{"givenName": "Mum"}], "phoneNumbers": [{"value": "+380 44 000 0001"}]},
            "groups": ["Neighbours"],
        },
        {"person": {"names": [{"givenName": "Dentist"}], "clientData": [{"key": "other-app", "value": "1"}]}},
        {
            "person": {"names": [{"givenName": "Reader"}], "emailAddresses": [{"value": "r@example.test"}]},
            "groups": ["Book club", "starred"],
        },
    ],
}


def person(crm_id: str, given: str = "", **fields: Any) -> ContactData:
    return ContactData(crm_id=crm_id, given_name=given or f"Contact {crm_id}", family_name="Test", **fields)


def fast_people(
    settings: Settings,
    credentials: Any,
    context: RequestContext,
    ledger: GoogleRequestLedger,
    wait: Callable[[float], None] = lambda _: None,
) -> PeopleClient:
    """The production client with its retry waits handed to ``wait`` (skipped by default)."""
    return PeopleClient(
        credentials,
        GoogleEndpoints.for_settings(settings),
        context,
        ledger,
        Pacer(100_000),
        timeout_seconds=5.0,
        retry=RetryPolicy(max_attempts=6, initial_wait=0.0, max_wait=0.0, jitter=0.0),
        sleep=wait,
    )


class World:
    """One member syncing the list "Customers" of "Acme CRM" into Ada's emulated Google account."""

    def __init__(
        self,
        app: Flask,
        google: HooksClient,
        factory: Factory,
        signed_in: Callable[[Membership], FlaskClient],
    ) -> None:
        self.app = app
        self.settings: Settings = app.config["GROUPSYNC"]
        self.google = google
        self.account = factory.account("Acme CRM")
        self.member = factory.member(self.account)
        connect(signed_in(self.member), google)
        connection = connection_of(self.member)
        assert connection is not None
        assert connection.is_usable
        # Google asks for one mutation at a time per user: the emulator rejects overlapping ones.
        google.call("POST", f"people/accounts/{ADA}/limits", {"strict_sequential": True})
        self.personal = google.call("POST", f"people/accounts/{ADA}/seed", PERSONAL)
        self.list, _ = put_list(db.session, self.account.id, "customers", {"name": "Customers"})
        grant_access(db.session, self.list, self.member, "user:0")
        self.sync = enable_sync(db.session, self.member, self.list.id)
        self.personal_before = self.personal_part()
        self.mark = len(google.log())
        self.start = self.mark
        self.on_wait: Callable[[float], None] = lambda _: None
        """What a run does instead of sleeping out a retry back-off."""

    # --- CRM side

    def upsert(self, *contacts: ContactData, in_list: bool = True) -> None:
        store_contact_data(db.session, self.account.id, contacts)
        db.session.commit()
        if in_list:
            ids: list[object] = [c.crm_id for c in contacts]
            change_members(db.session, self.account.id, "customers", {"contact_ids": ids}, add=True)

    def leave_list(self, *crm_ids: str) -> None:
        change_members(db.session, self.account.id, "customers", {"contact_ids": list(crm_ids)}, add=False)

    def delete_in_crm(self, *crm_ids: str) -> None:
        delete_contacts(db.session, self.account.id, list(crm_ids), "user:0")

    # --- running

    def run(self, **options: Any) -> SyncRun | None:
        self.mark = len(self.google.log())
        credentials = UserOAuthCredentialsSource(db.session, vault_of(self.app), self.settings)
        result = run_sync(
            db.session,
            self.sync.id,
            settings=self.settings,
            credentials=credentials,
            people=functools.partial(fast_people, wait=self.on_wait),
            options=RunOptions(**options),
        )
        db.session.expire_all()
        return result

    def requests(self) -> list[str]:
        """People API methods the emulator served since the last run started (token requests left out)."""
        return [e["method"] for e in self.google.log(self.mark) if e["method"].startswith(PEOPLE_PREFIXES)]

    # --- Google side

    @property
    def group(self) -> str:
        db.session.refresh(self.sync)
        assert self.sync.group_resource_name is not None
        return self.sync.group_resource_name

    def group_contacts(self, group: str | None = None) -> list[dict[str, Any]]:
        gid = (group or self.group).removeprefix("contactGroups/")
        contacts: list[dict[str, Any]] = self.google.call(
            "GET", f"people/accounts/{ADA}/groups/{gid}/contacts"
        )["contacts"]
        return contacts

    def by_crm_id(self) -> dict[str, list[dict[str, Any]]]:
        """GroupSync's group as CRM id → the Google contacts carrying it (more than one = a duplicate)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for contact in self.group_contacts():
            tag = read_tag(contact)
            assert tag is not None, f"untagged contact in GroupSync's group: {contact['resourceName']}"
            assert tag[0] == self.sync.tag
            found.setdefault(tag[1], []).append(contact)
        return found

    def tagged_anywhere(self) -> dict[str, int]:
        """How many contacts in the whole account carry this sync's tag, per CRM id."""
        counts: dict[str, int] = {}
        for contact in self.snapshot()["contacts"].values():
            tag = read_tag(contact["fields"])
            if tag is not None and tag[0] == self.sync.tag:
                counts[tag[1]] = counts.get(tag[1], 0) + 1
        return counts

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = self.google.call("GET", f"people/accounts/{ADA}/snapshot")
        return data

    def personal_part(self) -> str:
        """Canonical bytes of every contact and group that is not GroupSync's (must never change)."""
        snap = self.snapshot()
        ours = {
            name
            for name, g in snap["groups"].items()
            if any(e.get("key") == MARKER_KEY for e in g.get("clientData") or [])
        }
        contacts = {
            name: c
            for name, c in snap["contacts"].items()
            if not any(e.get("key") == MARKER_KEY for e in c["fields"].get("clientData", []))
        }
        groups = {name: g for name, g in snap["groups"].items() if name not in ours}
        return json.dumps({"contacts": contacts, "groups": groups}, sort_keys=True)

    def user(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """Act as the Google user (edit, delete, relabel) through the emulator's hooks."""
        return self.google.call("POST", f"people/accounts/{ADA}/{path}", body or {})

    # --- GroupSync's records

    def rows(self) -> dict[str, SyncedContact]:
        return {
            r.crm_id: r
            for r in db.session.scalars(select(SyncedContact).where(SyncedContact.sync_id == self.sync.id))
        }

    def reload(self) -> ContactSync:
        db.session.refresh(self.sync)
        return self.sync

    def assert_mirrors(self, expected: dict[str, str], released: frozenset[str] = frozenset()) -> None:
        """The group holds exactly ``expected`` (CRM id → given name), once each, and nothing else changed.

        ``released`` contacts left the list but stay in Google, outside the group, for the user.
        """
        found = self.by_crm_id()
        assert {k: len(v) for k, v in found.items()} == dict.fromkeys(expected, 1)
        assert {k: v[0]["names"][0]["givenName"] for k, v in found.items()} == expected
        assert self.tagged_anywhere() == dict.fromkeys({*expected, *released}, 1)
        assert self.personal_part() == self.personal_before


def faults(google: HooksClient, **plan: Any) -> None:
    """Seeded fault injection for Ada's account (``None`` plan: off)."""
    google.call("POST", "people/faults", {"identity": ADA, "plan": plan or None})


def repair_due(world: World) -> Callable[[], datetime]:
    """A clock past the repair interval, so the next run reads every member of the group."""
    later = utcnow() + timedelta(seconds=world.settings.sync_repair_interval_seconds, minutes=1)
    return lambda: later
