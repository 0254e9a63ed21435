"""A Workspace domain in the emulator and an account whose admin connects it, all real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.accounts.models import Account, Membership, Role
from app.config import Settings
from app.crm.services import change_members, put_list, store_contact_data
from app.extensions import db
from app.google.domain import RoutingCredentialsSource
from app.google.domain_models import STATEMENT_VERSION, DomainConnection, DomainMode
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import GoogleConnection
from app.google.vault import TokenVault
from app.mail import Mailer, sent_files
from app.sync.models import ContactSync, SyncRun
from app.sync.services import PeopleFactory, RunOptions, run_sync
from app.workspace import members, services
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.workspace_views import WorkspaceHooks
from tests.conftest import Factory
from tests.sync.engine import fast_people, person

DOMAIN = "acme.example"
ADMIN = "maria@acme.example"
TARAS = "taras@acme.example"
OKSANA = "oksana@acme.example"
PROJECT = "acme-groupsync"


class DomainWorld:
    def __init__(self, app: Flask, google: HooksClient, factory: Factory, mail_dir: Path) -> None:
        self.app = app
        self.google = google
        self.ws = WorkspaceHooks(google)
        self.ws.add_domain(
            DOMAIN,
            [
                {"email": ADMIN, "name": "Maria Shevchenko", "locale": "uk"},
                {"email": TARAS, "name": "Taras Bondar", "locale": "uk"},
                {"email": OKSANA, "name": "Oksana Melnyk", "locale": "ru"},
            ],
        )
        account = self.ws.create_service_account(PROJECT, "contacts-sync")
        self.key_file: dict[str, str] = self.ws.create_key(account["email"])
        self.mail_dir = mail_dir
        self.settings: Settings = app.config["GROUPSYNC"].with_overrides(mail_transport=f"file:{mail_dir}")
        self.vault = TokenVault.for_settings(self.settings)
        self.account: Account = factory.account("Acme CRM")
        self.admin = factory.member(self.account, Role.ADMIN, email=ADMIN)
        self.taras = factory.member(self.account, email=TARAS)
        self.oksana = factory.member(self.account, email=OKSANA)
        self.outsider = factory.member(self.account, email="guest@elsewhere.example")
        self.list, _ = put_list(db.session, self.account.id, "customers", {"name": "Customers"})
        contacts = [person(f"c{i}", f"Client{i}") for i in range(12)]
        store_contact_data(db.session, self.account.id, contacts)
        db.session.commit()
        change_members(
            db.session, self.account.id, "customers", {"contact_ids": [c.crm_id for c in contacts]}, add=True
        )

    @property
    def key_text(self) -> str:
        import json

        return json.dumps(self.key_file)

    def delegate(self, scopes: list[str] | None = None) -> None:
        self.ws.set_delegation(
            DOMAIN, self.key_file["client_id"], [CONTACTS_SCOPE] if scopes is None else scopes
        )

    def connect(self) -> DomainConnection:
        domain = services.connect(db.session, self.admin, DOMAIN, DomainMode.CUSTOMER_KEY, self.settings)
        services.store_key(db.session, self.vault, domain, self.admin, self.key_text)
        services.accept_statement(db.session, domain, self.admin, STATEMENT_VERSION)
        return domain

    def ready(self) -> DomainConnection:
        self.delegate()
        domain = self.connect()
        assert services.test(db.session, self.settings, self.vault, domain, self.admin).ok
        return domain

    def assign(self, member: Membership) -> ContactSync:
        domain = services.domain_of(db.session, self.account.id)
        assert domain is not None
        return members.assign(
            db.session,
            self.settings,
            Mailer.for_settings(self.settings),
            domain,
            admin=self.admin,
            member=member,
            contact_list=self.list,
        )

    def run(self, sync: ContactSync, people: PeopleFactory = fast_people) -> SyncRun | None:
        """One run, with credentials built afresh (as another worker process would)."""
        credentials = RoutingCredentialsSource(db.session, self.vault, self.settings)
        result = run_sync(
            db.session,
            sync.id,
            settings=self.settings,
            credentials=credentials,
            people=people,
            options=RunOptions(),
        )
        db.session.expire_all()
        return result

    def google_sub(self, email: str) -> str:
        """The emulator's ``sub`` of a domain user (what its log names)."""
        return str(next(u["sub"] for u in self.ws.domain(DOMAIN)["users"] if u["email"] == email))

    def connection(self, member: Membership) -> GoogleConnection:
        found = db.session.scalar(select(GoogleConnection).where(GoogleConnection.user_id == member.user_id))
        assert found is not None
        return found

    def snapshot(self, email: str) -> dict[str, Any]:
        data: dict[str, Any] = self.google.call("GET", f"people/accounts/{email}/snapshot")
        return data

    def mails(self) -> list[Any]:
        return sent_files(self.mail_dir)
