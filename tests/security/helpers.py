"""Driving the security pages as a browser would: real CSRF tokens, real TOTP codes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.db import utcnow
from app.extensions import db
from app.security.models import AUDIT_GUARD_SQLITE_DDL
from tests.security.soft_authenticator import SoftAuthenticator

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')
_FACTOR = re.compile(r'name="factor_id" value="(\d+)"')
_CODES = re.compile(r"<li><code>([0-9a-f-]+)</code></li>")


def csrf(client: FlaskClient, page: str = "/sign-in") -> str:
    found = _CSRF.search(client.get(page).get_data(as_text=True))
    assert found is not None, f"no CSRF token on {page}"
    return found.group(1)


def post(
    client: FlaskClient, path: str, data: dict[str, str] | None = None, page: str = "/security/enrol"
) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf(client, page), **(data or {})})


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def _clear_of_a_step_edge(margin: float = 3.0) -> None:
    """Wait for the next 30-second step when this one ends within ``margin`` seconds: a code of the
    step before is accepted only until the step turns, so sending one just before would be refused."""
    into = time.time() % 30
    if into > 30 - margin:
        time.sleep(30 - into + 0.05)


def enrol(client: FlaskClient, moment: datetime | None = None) -> tuple[str, list[str]]:
    """Set up an authenticator through the pages; returns its secret and the recovery codes shown."""
    page = post(client, "/security/enrol").get_data(as_text=True)
    secret, factor = _SECRET.search(page), _FACTOR.search(page)
    assert secret is not None, page
    assert factor is not None, page
    # A step before now by default, so the test's next code (now) is a new one, not a replay.
    if moment is None:
        _clear_of_a_step_edge()
    code = pyotp.TOTP(secret.group(1)).at(moment or utcnow() - timedelta(seconds=30))
    shown = post(client, "/security/enrol/confirm", {"factor_id": factor.group(1), "code": code})
    assert shown.status_code == 200, shown.get_data(as_text=True)
    codes = _CODES.findall(shown.get_data(as_text=True))
    assert len(codes) == 10
    return secret.group(1), codes


@contextmanager
def tampering_audit() -> Iterator[sa.Connection]:
    """A connection that may rewrite the audit log: its insert-only triggers are off inside it."""
    with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("ALTER TABLE account_audit_entry DISABLE TRIGGER USER"))
        else:
            conn.execute(sa.text("DROP TRIGGER account_audit_entry_insert_only"))
        yield conn
        if postgres:
            conn.execute(sa.text("ALTER TABLE account_audit_entry ENABLE TRIGGER USER"))
        else:
            conn.execute(sa.text(AUDIT_GUARD_SQLITE_DDL))


def passkey_options(client: FlaskClient, purpose: str) -> TestResponse:
    """Ask for a ceremony's options as passkeys.js does (a form POST with the CSRF token)."""
    return post(client, "/security/passkeys/options", {"purpose": purpose})


def add_passkey(client: FlaskClient, authenticator: SoftAuthenticator, name: str = "Laptop") -> TestResponse:
    """Register ``authenticator`` through the pages: options, then the form with the browser's answer."""
    options = passkey_options(client, "register")
    assert options.status_code == 200, options.get_data(as_text=True)
    credential = authenticator.register(options.get_data(as_text=True))
    return post(client, "/security/passkeys", {"name": name, "credential": credential, "next": "/security/"})


def sign_in_with_passkey(
    client: FlaskClient, authenticator: SoftAuthenticator, next_url: str = "/dashboard"
) -> TestResponse:
    options = passkey_options(client, "sign_in")
    assert options.status_code == 200, options.get_data(as_text=True)
    credential = authenticator.sign(options.get_data(as_text=True))
    return post(client, "/security/passkeys/sign-in", {"credential": credential, "next": next_url})
