"""The demo's second account: a company on Google Workspace whose admin connects the whole domain.

In the emulator: the domain ``kyiv-trading.example`` with an admin and three colleagues, a
service account of the company's own Cloud project with one JSON key, and domain-wide
delegation of the contacts scope to it (as the Admin console would hold it). The key file is
written to the demo's instance folder for the admin to upload on the Workspace page; in
GroupSync: the account, its people (who have not connected Google) and a list to hand out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Account, Membership, Role, User
from app.crm.models import ContactList
from app.crm.services import change_members, put_list, store_contact_data
from app.crm.values import ContactData
from app.google.endpoints import CONTACTS_SCOPE
from groupsync_emulator.hooks import HookError, HooksClient
from groupsync_emulator.workspace_views import WorkspaceHooks

WORKSPACE_ACCOUNT = "Kyiv Trading (Workspace demo)"
DOMAIN = "kyiv-trading.example"
PROJECT = "kyiv-trading-sync"
KEY_FILE = "workspace-demo-key.json"
USERS = (
    ("olha.admin@kyiv-trading.example", "Ольга Адміненко", "uk", Role.ADMIN),
    ("petro@kyiv-trading.example", "Петро Сидоренко", "uk", Role.MEMBER),
    ("irina@kyiv-trading.example", "Ирина Волкова", "ru", Role.MEMBER),
    ("sam@kyiv-trading.example", "Sam Carter", "en", Role.MEMBER),
)


@dataclass(frozen=True)
class WorkspaceDemo:
    users: list[dict[str, Any]]
    key_path: Path


def seed_workspace(emulator_url: str, instance: Path) -> WorkspaceDemo:
    """The domain, its users, the service account and its delegation; nothing changes on a second start."""
    ws = WorkspaceHooks(HooksClient(emulator_url))
    try:
        users = ws.domain(DOMAIN)["users"]
    except HookError:
        users = ws.add_domain(
            DOMAIN, [{"email": email, "name": name, "locale": locale} for email, name, locale, _ in USERS]
        )
    key_path = instance / KEY_FILE
    if not key_path.exists():
        account = ws.create_service_account(PROJECT, "groupsync-contacts")
        key_path.write_text(json.dumps(ws.create_key(account["email"]), indent=2), encoding="utf-8")
        key_path.chmod(0o600)
        ws.set_delegation(DOMAIN, account["unique_id"], [CONTACTS_SCOPE])
    return WorkspaceDemo(users, key_path)


def seed_workspace_account(session: Session, demo: WorkspaceDemo) -> Account:
    account = session.scalar(select(Account).where(Account.name == WORKSPACE_ACCOUNT))
    if account is None:
        account = Account(name=WORKSPACE_ACCOUNT)
        session.add(account)
        session.flush()
    roles = {email: role for email, _, _, role in USERS}
    for google_user in demo.users:
        user = session.scalar(select(User).where(User.google_sub == google_user["sub"]))
        if user is None:
            user = User(google_sub=google_user["sub"], email=google_user["email"], name=google_user["name"])
            session.add(user)
        if (
            session.scalar(select(Membership).where(Membership.account == account, Membership.user == user))
            is None
        ):
            session.add(
                Membership(account=account, user=user, role=roles.get(google_user["email"], Role.MEMBER))
            )
    session.commit()
    existing = session.scalar(
        select(ContactList).where(ContactList.account_id == account.id, ContactList.crm_id == "suppliers")
    )
    if existing is None:
        put_list(session, account.id, "suppliers", {"name": "Suppliers"})
        contacts = [
            ContactData(crm_id=f"s{i}", given_name=given, family_name=family, company=company)
            for i, (given, family, company) in enumerate(
                (
                    ("Андрій", "Мельник", "Зерно Поділля"),
                    ("Наталія", "Ковальчук", "Київський папір"),
                    ("Jonas", "Weber", "Weber Logistik"),
                    ("Олег", "Бондар", "Бондар та сини"),
                    ("Марина", "Лисенко", "Чорноморська риба"),
                )
            )
        ]
        store_contact_data(session, account.id, contacts)
        session.commit()
        change_members(
            session, account.id, "suppliers", {"contact_ids": [c.crm_id for c in contacts]}, add=True
        )
        return account
    return account
