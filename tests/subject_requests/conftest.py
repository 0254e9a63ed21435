"""Fixtures for data-subject requests: an account with an admin, a CRM contact, and a mail outbox folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask

from app.accounts.models import Account, Membership, Role
from app.config import Settings
from app.crm import services as crm_services
from app.extensions import db
from app.mail import Mailer, sent_files
from tests.conftest import Factory

LINK = re.compile(r"/data-requests/confirm/([A-Za-z0-9_-]+)")


@dataclass
class Outbox:
    folder: Path

    def messages(self) -> list[EmailMessage]:
        return sent_files(self.folder)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if m["To"] == address]

    def body(self, message: EmailMessage) -> str:
        return str(message.get_content())

    def confirmation_token(self, address: str) -> str:
        """The token of the newest confirmation link mailed to ``address``."""
        links = [LINK.search(self.body(m)) for m in self.to(address)]
        found = [link for link in links if link is not None][-1]
        assert found is not None
        return found.group(1)


@pytest.fixture
def outbox(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outbox:
    """The app's mail goes to files in a folder for this test (the views send through the settings)."""
    folder = tmp_path / "mail"
    settings: Settings = app.config["GROUPSYNC"]
    monkeypatch.setitem(app.config, "GROUPSYNC", settings.with_overrides(mail_transport=f"file:{folder}"))
    return Outbox(folder)


@pytest.fixture
def mailer(app: Flask, outbox: Outbox) -> Mailer:
    return Mailer.for_settings(app.config["GROUPSYNC"])


@dataclass
class Shop:
    account: Account
    admin: Membership


@pytest.fixture
def shop(factory: Factory) -> Shop:
    account = factory.account("Acme CRM")
    admin = factory.member(account, Role.ADMIN, email="ada.admin@acme.example")
    crm_services.upsert_contact(
        db.session,
        account.id,
        "c-olena",
        {"given_name": "Олена", "family_name": "Коваль", "emails": [{"value": "Olena@People.example"}]},
    )
    crm_services.upsert_contact(
        db.session,
        account.id,
        "c-other",
        {"given_name": "Other", "emails": [{"value": "other@people.example"}]},
    )
    return Shop(account, admin)
