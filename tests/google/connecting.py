"""Driving the connect flow from tests the way a browser does, with the emulator's consent preset."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.accounts.models import Membership
from app.config import Settings
from app.extensions import db
from app.google.models import ConnectionStatus, GoogleConnection
from app.google.vault import TokenVault
from app.ledger.models import LedgerEntry
from app.privacy import disclosure
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy_version
from groupsync_emulator.hooks import HooksClient
from tests.ledger.helpers import request_outcomes

ADA = "110000000000000000001"
"""``sub`` of the emulator's first test identity (Ada Lovelace)."""
ADA_EMAIL = "ada.lovelace@example.com"
TIMEOUT = 10.0


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


def start(client: FlaskClient) -> TestResponse:
    """Open the disclosure page and accept it, as the user's click does."""
    page = client.get("/google/disclosure")
    assert page.status_code == 200
    return client.post(
        "/google/connect",
        data={
            "csrf_token": csrf_token(page.text),
            "disclosure_version": disclosure.current().version,
            "policy_version": current_policy_version(),
        },
    )


def consent(google: HooksClient, consent_url: str, **preset: object) -> str:
    """Answer Google's consent page per ``preset``; returns the callback path and query."""
    google.preset_consent(**preset)  # type: ignore[arg-type]
    answer = requests.get(consent_url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code in (302, 303), answer.text
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/google/callback"
    return f"{location.path}?{location.query}"


def callback_params(path: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}


def connect(
    client: FlaskClient,
    google: HooksClient,
    identity: str = ADA,
    scopes: list[str] | None = None,
    deny: bool = False,
) -> TestResponse:
    started = start(client)
    assert started.status_code == 303, started.text
    return client.get(consent(google, started.location, identity=identity, scopes=scopes, deny=deny))


def connection_of(membership: Membership) -> GoogleConnection | None:
    db.session.expire_all()
    return db.session.scalar(
        select(GoogleConnection).where(
            GoogleConnection.account_id == membership.account_id,
            GoogleConnection.user_id == membership.user_id,
        )
    )


def ledger(account_id: int) -> list[LedgerEntry]:
    """The account's entries, each Google request as its outcome entry once its pairing is checked."""
    db.session.expire_all()
    return request_outcomes(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.seq)
        ).all()
    )


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.config["GROUPSYNC"]
    return settings


def vault_of(app: Flask) -> TokenVault:
    return TokenVault.for_settings(settings_of(app))


def accept_disclosure(member: Membership) -> None:
    """The member's acceptance of the disclosure and policy in force, as a row (no connect flow)."""
    db.session.add(
        DisclosureAcceptance(
            account_id=member.account_id,
            user_id=member.user_id,
            version=disclosure.current().version,
            policy_version=current_policy_version(),
        )
    )


def offline_connection(app: Flask, member: Membership, granted_scopes: str) -> GoogleConnection:
    """Ada's connected row with a refresh token sealed by the vault, made without talking to Google."""
    accept_disclosure(member)
    connection = GoogleConnection(
        account_id=member.account_id,
        user_id=member.user_id,
        status=ConnectionStatus.CONNECTED,
        google_sub=ADA,
        email=ADA_EMAIL,
        granted_scopes=granted_scopes,
    )
    db.session.add(connection)
    db.session.flush()
    vault_of(app).store_refresh_token(connection, "1//refresh-token-under-test")
    db.session.commit()
    return connection
