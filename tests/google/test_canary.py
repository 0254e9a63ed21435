"""Canary: after connecting, refreshing and disconnecting, no secret is in any table or any log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from google.auth.transport.requests import Request as GoogleTransport

from app.accounts.models import Membership, Role
from app.extensions import db
from app.google.credentials import UserOAuthCredentialsSource
from app.google.models import GoogleConnection
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import (
    callback_params,
    connection_of,
    consent,
    csrf_token,
    settings_of,
    start,
    vault_of,
)

SignedIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def emitted_log() -> Iterator[io.StringIO]:
    """Everything GroupSync's own log handler writes (after its redaction), at every level."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "_groupsync", False))
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), root.level
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.setLevel(previous_level)
        handler.setStream(previous_stream)


def _database_dump() -> bytes:
    chunks: list[bytes] = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x00".join(chunks)


def _assert_absent(secrets: dict[str, str], dump: bytes, log_text: str) -> None:
    for name, secret in secrets.items():
        assert len(secret) >= 8, name
        assert secret.encode() not in dump, f"{name} found in the database"
        assert secret not in log_text, f"{name} found in the log"


def test_no_token_code_or_client_secret_at_rest_or_in_logs(
    app: Flask,
    factory: Factory,
    signed_in: SignedIn,
    google: HooksClient,
    emitted_log: io.StringIO,
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    started = start(client)
    path = consent(google, started.location, identity="110000000000000000001")
    params = callback_params(path)
    logging.getLogger("canary").info("callback at %s", path)
    client.get(path)
    connection = connection_of(member)
    assert isinstance(connection, GoogleConnection)
    vault = vault_of(app)
    refresh_token = vault.refresh_token(connection)
    first_access = vault.access_token(connection)
    assert refresh_token is not None
    assert first_access is not None

    credentials = UserOAuthCredentialsSource(db.session(), vault, settings_of(app)).credentials_for(
        connection
    )
    credentials.refresh(GoogleTransport())
    secrets = {
        "authorization code": params["code"],
        "state": params["state"],
        "refresh token": refresh_token,
        "first access token": first_access.token,
        "refreshed access token": str(credentials.token),
        "client secret": settings_of(app).google_client_secret,
    }
    assert connection.refresh_token_ciphertext is not None
    _assert_absent(secrets, _database_dump(), emitted_log.getvalue())

    client.post(
        "/google/disconnect", data={"csrf_token": csrf_token(client.get("/google/").text), "confirmed": "yes"}
    )
    _assert_absent(secrets, _database_dump(), emitted_log.getvalue())
    # The log did record the flow, so the check above looked at real output.
    assert "callback at /google/callback" in emitted_log.getvalue()
