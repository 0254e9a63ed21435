"""The demo's Workspace account: a domain in the emulator whose delegation works, and its CRM side."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.extensions import db
from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.demo_workspace import DOMAIN, USERS, seed_workspace, seed_workspace_account
from groupsync_emulator.hooks import HooksClient
from tests.emulator.conftest import CONTACTS


def test_the_workspace_demo_is_seeded_once_and_its_key_is_delegated(
    app: Flask, emulator: RunningEmulator, google: HooksClient, tmp_path: Path
) -> None:
    demo = seed_workspace(emulator.url, tmp_path)
    again = seed_workspace(emulator.url, tmp_path)
    assert [u["sub"] for u in again.users] == [u["sub"] for u in demo.users]
    assert {u["email"] for u in demo.users} == {email for email, *_ in USERS}
    key = json.loads(demo.key_path.read_text())
    credentials = service_account.Credentials.from_service_account_info(key, scopes=[CONTACTS])
    credentials.with_subject(USERS[1][0]).refresh(Request())

    account = seed_workspace_account(db.session, demo)
    assert seed_workspace_account(db.session, demo).id == account.id
    members = db.session.scalars(select(Membership).where(Membership.account_id == account.id)).all()
    assert len(members) == len(USERS)
    assert [m.user.email for m in members if m.role is Role.ADMIN] == [USERS[0][0]]
    assert all(m.user.email.endswith("@" + DOMAIN) for m in members)
