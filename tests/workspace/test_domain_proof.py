"""Proof for domain connections: the uploaded key is never in clear in the database or the log,
every JWT-bearer token request is in the ledger one to one with what Google served, and every
problem has a message."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import responses
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership
from app.extensions import db
from app.google.domain import JWT_BEARER_METHOD, KeySigner, ServiceAccountKey, request_token
from app.google.domain_models import DomainMode, DomainProblem
from app.google.endpoints import GoogleEndpoints
from app.google.tokens import ATTEMPTS, CallContext, Grantee, TokenEndpointUnavailableError
from app.google.vault import AccessToken
from app.ledger.events import EventTag, Purpose, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_database
from app.workspace import services
from app.workspace.messages import PROBLEMS
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.ledger.helpers import request_outcomes
from tests.workspace.world import TARAS, DomainWorld


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


def database_dump() -> bytes:
    chunks: list[bytes] = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                chunks.extend(value if isinstance(value, bytes) else str(value).encode() for value in row)
    return b"\x00".join(chunks)


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, tmp_path: Path) -> DomainWorld:
    return DomainWorld(app, google, factory, tmp_path / "mail")


def test_the_uploaded_key_is_never_in_clear_in_the_database_or_the_log(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient], emitted_log: io.StringIO
) -> None:
    world.delegate()
    client = signed_in(world.admin)
    page = client.get("/workspace/")
    client.post(
        "/workspace/connect",
        data={"csrf_token": csrf_token(page.text), "domain": "acme.example", "mode": "customer_key"},
    )
    page = client.get("/workspace/")
    client.post(
        "/workspace/key",
        data={
            "csrf_token": csrf_token(page.text),
            "key_file": (io.BytesIO(world.key_text.encode()), "key.json"),
        },
        content_type="multipart/form-data",
    )
    page = client.get("/workspace/")
    assert 'data-testid="key-info"' in page.text
    client.post(
        "/workspace/statement",
        data={"csrf_token": csrf_token(page.text), "confirm": "yes", "version": services.STATEMENT_VERSION},
    )
    client.post("/workspace/test", data={"csrf_token": csrf_token(page.text)})
    sync = world.assign(world.taras)
    world.run(sync)

    pem_lines = [line for line in world.key_file["private_key"].splitlines() if "PRIVATE KEY" not in line]
    secrets = {f"private key line {i}": line for i, line in enumerate(pem_lines[:5])}
    dump = database_dump()
    log_text = emitted_log.getvalue()
    assert log_text, "the log handler captured nothing, so the check would prove nothing"
    for name, secret in secrets.items():
        assert secret.encode() not in dump, f"{name} found in the database"
        assert secret not in log_text, f"{name} found in the log"
        assert secret not in page.text, f"{name} shown on the page"
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    assert domain.key_ciphertext is not None
    assert world.key_file["private_key_id"] in page.text or world.key_file["private_key_id"][:12] in page.text


def test_every_jwt_bearer_request_is_in_the_ledger_one_to_one(world: DomainWorld) -> None:
    domain = world.connect()
    failed = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert failed.problem is DomainProblem.DELEGATION_MISSING
    world.delegate()
    assert services.test(db.session, world.settings, world.vault, domain, world.admin).ok
    sync = world.assign(world.taras)
    world.run(sync)

    sent = world.google.log()
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == world.account.id).order_by(LedgerEntry.seq)
    ).all()
    started = [e for e in entries if e.tag == EventTag.GOOGLE_REQUEST_STARTED.value]
    outcome_of = {
        json.loads(e.detail)["request_id"]: e for e in entries if e.tag == EventTag.GOOGLE_REQUEST.value
    }
    assert len(started) == len(sent), [(e["method"], e["status"]) for e in sent]
    for request, start in zip(sent, started, strict=True):
        entry = outcome_of[json.loads(start.detail)["request_id"]]
        assert entry.method == request["method"] or entry.method.startswith(request["method"] + ".")
        assert entry.outcome == str(request["status"])
    jwt = [e for e in outcome_of.values() if e.method == "oauth2.token.jwt_bearer"]
    assert sorted(e.outcome for e in jwt) == ["200", "200", "401"]
    assert verify_database(db.session).ok
    taras = next(u["sub"] for u in world.ws.domain("acme.example")["users"] if u["email"] == TARAS)
    assert any(e["sub"] == taras and e["method"].startswith("people.") for e in sent)


def _jwt_bearer_outcomes(world: DomainWorld) -> list[tuple[str, object]]:
    entries = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.account_id == world.account.id).order_by(LedgerEntry.seq)
    ).all()
    return [
        (e.outcome, json.loads(e.detail).get("attempt"))
        for e in request_outcomes(entries)
        if e.method == JWT_BEARER_METHOD
    ]


def _ask_for_admin_token(world: DomainWorld, sleeps: list[float]) -> AccessToken:
    return request_token(
        db.session,
        world.settings,
        KeySigner(ServiceAccountKey.parse(world.key_text)),
        world.admin.user.email,
        holder=Grantee(world.account.id, world.admin.user_id, world.admin.user.google_sub),
        context=CallContext(Purpose.ACCOUNT_CONNECTION, Trigger.ADMIN, "system"),
        mode=DomainMode.CUSTOMER_KEY,
        sleep=sleeps.append,
    )


def test_a_jwt_bearer_request_answered_503_is_retried_after_retry_after_each_attempt_ledgered(
    world: DomainWorld,
) -> None:
    token_uri = GoogleEndpoints.for_settings(world.settings).token_uri
    sleeps: list[float] = []
    with responses.RequestsMock() as google_busy:
        google_busy.add(responses.POST, token_uri, status=503, headers={"Retry-After": "7"})
        google_busy.add(
            responses.POST, token_uri, json={"access_token": "ya29.fresh", "expires_in": 3600}, status=200
        )
        access = _ask_for_admin_token(world, sleeps)
    assert access.token == "ya29.fresh"
    assert len(sleeps) == 1
    assert sleeps[0] >= 7, "Retry-After was not honoured"
    assert _jwt_bearer_outcomes(world) == [("503", 1), ("200", 2)]
    assert verify_database(db.session).ok


def test_a_jwt_bearer_endpoint_that_stays_down_is_reported_after_the_policy_s_attempts(
    world: DomainWorld,
) -> None:
    token_uri = GoogleEndpoints.for_settings(world.settings).token_uri
    sleeps: list[float] = []
    with responses.RequestsMock() as google_down:
        google_down.add(responses.POST, token_uri, status=500)
        with pytest.raises(TokenEndpointUnavailableError) as failed:
            _ask_for_admin_token(world, sleeps)
    assert failed.value.outcome == "500"
    assert _jwt_bearer_outcomes(world) == [("500", attempt) for attempt in range(1, ATTEMPTS + 1)]
    assert len(sleeps) == ATTEMPTS - 1
    assert _tag_outcomes(world, EventTag.TOKEN_REFRESH_FAILED) == ["500"]


def _tag_outcomes(world: DomainWorld, tag: EventTag) -> list[str]:
    return list(
        db.session.scalars(
            select(LedgerEntry.outcome)
            .where(LedgerEntry.account_id == world.account.id, LedgerEntry.tag == tag.value)
            .order_by(LedgerEntry.seq)
        )
    )


def test_every_problem_has_a_message_and_a_fix() -> None:
    for problem in DomainProblem:
        message = PROBLEMS[problem]
        assert message.what
        assert message.fix or problem is DomainProblem.NONE
