"""Sign-in with Google against the emulator: accounts, invitations, single-use state, the ledger."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Account, Invitation, LoginSession, Membership, Role, SignInRequest, User
from app.auth import services
from app.db import utcnow
from app.extensions import db
from app.google.endpoints import GOOGLE_ID_TOKEN_ISSUERS, GoogleEndpoints
from app.google.oauth import Identity
from app.ledger.models import LedgerEntry
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.keys import SigningKey
from tests.auth.flows import answer_at_google, csrf_token, sign_in_via_google, start_sign_in
from tests.conftest import Factory
from tests.ledger.helpers import request_outcomes

ADA_SUB = "110000000000000000001"


def _entries(method: str = "oauth2.token.authorization_code") -> list[LedgerEntry]:
    """Outcome entries of the sign-in's requests to ``method``, once every request's pairing is checked."""
    everything = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.chain, LedgerEntry.seq)).all()
    return [e for e in request_outcomes(everything) if e.tag == "google.request" and e.method == method]


def _flashes(client: FlaskClient) -> str:
    return client.get("/sign-in").get_data(as_text=True)


def test_first_sign_in_creates_an_account_with_the_person_as_admin(
    client: FlaskClient, google: HooksClient
) -> None:
    response = sign_in_via_google(client, google)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/dashboard"
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Ada Lovelace&#39;s account" in dashboard
    user = db.session.scalars(select(User)).one()
    assert (user.google_sub, user.email, user.name) == (ADA_SUB, "ada.lovelace@example.com", "Ada Lovelace")
    membership = db.session.scalars(select(Membership)).one()
    assert membership.role is Role.ADMIN
    (entry,) = _entries()
    assert (entry.account_id, entry.user_id, entry.kind, entry.purpose, entry.outcome) == (
        membership.account_id,
        user.id,
        "token",
        "sign_in",
        "ok",
    )
    assert (entry.destination, entry.categories, entry.actor) == ("google", '["identity"]', f"user:{user.id}")
    assert entry.google_account is not None
    assert ADA_SUB not in entry.google_account
    # Fetching Google's signing keys to check the ID token is a request to Google too: nobody's data.
    (certs,) = _entries("oauth2.certs")
    assert (certs.account_id, certs.outcome, certs.categories, certs.purpose) == (
        None,
        "200",
        "[]",
        "sign_in",
    )


def test_a_new_account_is_named_in_the_founder_language(client: FlaskClient, google: HooksClient) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "uk"
    sign_in_via_google(client, google)
    assert db.session.scalars(select(Account.name)).one() == "Обліковий запис Ada Lovelace"


def test_signing_in_again_finds_the_same_person_by_sub(client: FlaskClient, google: HooksClient) -> None:
    sign_in_via_google(client, google)
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")})
    sign_in_via_google(client, google)
    assert db.session.query(User).count() == 1
    assert db.session.query(Account).count() == 1
    assert len(_entries()) == 2


def test_sign_out_says_so_on_the_page_it_lands_on(client: FlaskClient, google: HooksClient) -> None:
    sign_in_via_google(client, google)
    answer = client.post(
        "/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")}, follow_redirects=True
    )
    assert answer.request.path == "/"
    assert "You are signed out." in answer.get_data(as_text=True)


def test_a_protected_page_sends_an_anonymous_browser_to_sign_in_with_the_reason(client: FlaskClient) -> None:
    answer = client.get("/syncs", follow_redirects=True)
    assert answer.request.path == "/sign-in"
    assert 'data-testid="sign-in-to-continue"' in answer.get_data(as_text=True)
    plain = client.get("/sign-in").get_data(as_text=True)
    assert 'data-testid="sign-in-to-continue"' not in plain, "nobody was turned away"


def test_sign_in_rotates_the_session_and_sign_out_ends_it_server_side(
    app: Flask, client: FlaskClient, google: HooksClient
) -> None:
    authorization_url = start_sign_in(client)
    with client.session_transaction() as before:
        assert "sign_in_browser" in before
        csrf_before = before.get("csrf_token")
    client.get(answer_at_google(google, authorization_url))
    with client.session_transaction() as after:
        assert "sign_in_browser" not in after
        assert after.get("csrf_token") != csrf_before
        stolen = dict(after)
    assert db.session.query(LoginSession).count() == 1
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert db.session.query(LoginSession).count() == 0
    replay = app.test_client()
    with replay.session_transaction() as sess:
        sess.update(stolen)
    assert replay.get("/dashboard").status_code == 302


def test_state_is_single_use(app: Flask, client: FlaskClient, google: HooksClient) -> None:
    authorization_url = start_sign_in(client)
    with client.session_transaction() as sess:
        browser_secret = sess["sign_in_browser"]
    callback = answer_at_google(google, authorization_url)
    assert urlsplit(client.get(callback).headers["Location"]).path == "/dashboard"
    # The same browser (holding the same secret) replays Google's redirect.
    replayer = app.test_client()
    with replayer.session_transaction() as sess:
        sess["sign_in_browser"] = browser_secret
    replayed = replayer.get(callback)
    assert urlsplit(replayed.headers["Location"]).path == "/sign-in"
    assert "already used or is unknown" in _flashes(replayer)
    assert replayer.get("/dashboard").status_code == 302
    assert len(_entries()) == 1, "a replayed state must not reach Google's token endpoint"


def test_callback_in_another_browser_is_refused_and_burns_the_request(
    app: Flask, client: FlaskClient, google: HooksClient
) -> None:
    callback = answer_at_google(google, start_sign_in(client))
    attacker = app.test_client()
    attacker.get("/sign-in")
    with attacker.session_transaction() as sess:
        sess["sign_in_browser"] = "another-browser-secret"
    attacker.get(callback)
    assert attacker.get("/dashboard").status_code == 302
    assert "started in another browser" in _flashes(attacker)
    client.get(callback)
    assert client.get("/dashboard").status_code == 302
    assert db.session.query(SignInRequest).count() == 0
    assert _entries() == []


def test_callback_without_a_started_sign_in_is_refused(client: FlaskClient) -> None:
    response = client.get("/auth/callback?state=made-up&code=4/made-up")
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert "opened in another browser" in _flashes(client)


def test_expired_request_is_refused(app: Flask, google: HooksClient) -> None:
    settings = app.config["GROUPSYNC"]
    started = utcnow() - services.REQUEST_LIFETIME - timedelta(seconds=1)
    url = services.start_sign_in(db.session(), settings, browser_secret="b" * 20, next_url="/", now=started)
    query = parse_qs(urlsplit(answer_at_google(google, url)).query)
    with pytest.raises(services.SignInError, match="expired"):
        services.complete_sign_in(
            db.session(), settings, state=query["state"][0], code=query["code"][0], browser_secret="b" * 20
        )
    assert _entries() == []


def test_pending_request_keeps_no_secret_in_clear(client: FlaskClient) -> None:
    query = parse_qs(urlsplit(start_sign_in(client, "/account/members")).query)
    row = db.session.scalars(select(SignInRequest)).one()
    stored = " ".join(str(v) for v in (row.state_hash, row.browser_hash, row.next_url))
    assert query["state"][0] not in stored
    assert query["nonce"][0] not in stored
    assert query["code_challenge_method"] == ["S256"]
    assert row.next_url == "/account/members"


def test_deny_at_google_signs_nobody_in(client: FlaskClient, google: HooksClient) -> None:
    callback = answer_at_google(google, start_sign_in(client), deny=True)
    response = client.get(callback)
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert "cancelled" in _flashes(client)
    assert db.session.query(User).count() == 0
    assert _entries() == []


def test_unticked_email_is_refused_and_recorded_without_a_tenant(
    client: FlaskClient, google: HooksClient
) -> None:
    sign_in_via_google(client, google, scopes=["openid", "profile"])
    assert "did not share your e-mail address" in _flashes(client)
    assert db.session.query(User).count() == 0
    (entry,) = _entries()
    assert (entry.account_id, entry.user_id, entry.outcome, entry.actor) == (
        None,
        None,
        "scopes_missing",
        "system",
    )


def test_a_tampered_code_is_refused_by_google_and_recorded(client: FlaskClient, google: HooksClient) -> None:
    callback = answer_at_google(google, start_sign_in(client))
    response = client.get(callback.replace("code=", "code=x"))
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    (entry,) = _entries()
    assert (entry.account_id, entry.outcome) == (None, "invalid_grant")
    assert "http_status" in entry.detail


def test_invited_person_joins_with_the_invited_role(
    client: FlaskClient, google: HooksClient, factory: Factory
) -> None:
    account = factory.account("Acme")
    db.session.add(Invitation(account_id=account.id, email="grace.hopper@example.org", role=Role.REVIEWER))
    db.session.commit()
    sign_in_via_google(client, google, identity="grace.hopper@example.org")
    membership = db.session.scalars(
        select(Membership).join(User).where(User.email == "grace.hopper@example.org")
    ).one()
    assert (membership.account_id, membership.role) == (account.id, Role.REVIEWER)
    assert db.session.query(Invitation).count() == 0
    assert db.session.query(Account).count() == 1
    assert "You joined Acme as reviewer" in client.get("/dashboard").get_data(as_text=True)
    (entry,) = _entries()
    assert entry.account_id == account.id


def test_person_in_several_accounts_chooses_one(
    client: FlaskClient, google: HooksClient, factory: Factory
) -> None:
    first, second = factory.account("First Ltd"), factory.account("Second Ltd")
    for account, role in ((first, Role.MEMBER), (second, Role.ADMIN)):
        db.session.add(Invitation(account_id=account.id, email="ada.lovelace@example.com", role=role))
    db.session.commit()
    response = sign_in_via_google(client, google, next_url="/account/members")
    assert urlsplit(response.headers["Location"]).path == "/auth/choose-account"
    page = client.get("/auth/choose-account").get_data(as_text=True)
    assert "First Ltd" in page
    assert "Second Ltd" in page
    (entry,) = _entries()
    assert entry.account_id is None
    assert entry.user_id is not None
    chosen = db.session.scalars(select(Membership).where(Membership.account_id == second.id)).one()
    token = csrf_token(client, "/auth/choose-account")
    entered = client.post("/auth/choose-account", data={"csrf_token": token, "membership_id": str(chosen.id)})
    assert urlsplit(entered.headers["Location"]).path == "/account/members"
    assert "Second Ltd" in client.get("/dashboard").get_data(as_text=True)


def test_chooser_refuses_someone_elses_membership(
    client: FlaskClient, google: HooksClient, factory: Factory
) -> None:
    stranger = factory.member(factory.account("Stranger Co"), Role.ADMIN)
    for account in (factory.account("A"), factory.account("B")):
        db.session.add(Invitation(account_id=account.id, email="ada.lovelace@example.com", role=Role.MEMBER))
    db.session.commit()
    sign_in_via_google(client, google)
    token = csrf_token(client, "/auth/choose-account")
    client.post("/auth/choose-account", data={"csrf_token": token, "membership_id": str(stranger.id)})
    assert client.get("/dashboard").status_code == 302
    assert "Please choose one of your accounts" in client.get("/auth/choose-account").get_data(as_text=True)


def test_chooser_needs_a_fresh_google_sign_in(client: FlaskClient) -> None:
    assert urlsplit(client.get("/auth/choose-account").headers["Location"]).path == "/sign-in"


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/account/members", "/account/members"),
        ("https://evil.example/phish", "/dashboard"),
        ("//evil.example/phish", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
    ],
)
def test_next_is_honoured_only_on_this_site(
    client: FlaskClient, google: HooksClient, target: str, landing: str
) -> None:
    page = client.get("/sign-in", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page
    response = sign_in_via_google(client, google, next_url=target)
    assert response.headers["Location"] == landing


def test_anonymous_visit_returns_to_the_page_after_sign_in(client: FlaskClient, google: HooksClient) -> None:
    first = client.get("/account/members")
    sign_in_page = first.headers["Location"]
    next_url = parse_qs(urlsplit(sign_in_page).query)["next"][0]
    assert next_url == "/account/members"
    assert f'value="{next_url}"' in client.get(sign_in_page).get_data(as_text=True)
    response = sign_in_via_google(client, google, next_url=next_url)
    assert response.headers["Location"] == "/account/members"


def test_signed_in_visit_to_sign_in_goes_home(client: FlaskClient, google: HooksClient) -> None:
    sign_in_via_google(client, google)
    assert client.get("/sign-in").headers["Location"] == "/dashboard"


def _unverified_token_endpoint(app: Flask, mock: responses.RequestsMock, nonce: str, key: SigningKey) -> None:
    settings = app.config["GROUPSYNC"]
    endpoints = GoogleEndpoints.for_settings(settings)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": GOOGLE_ID_TOKEN_ISSUERS[0],
        "aud": settings.google_client_id,
        "sub": "unverified-sub-1",
        "email": "grace.hopper@example.org",
        "email_verified": False,
        "name": "Not Grace",
        "nonce": nonce,
        "iat": now,
        "exp": now + 600,
    }
    mock.post(
        endpoints.token_uri,
        json={
            "access_token": "ya29.x",
            "token_type": "Bearer",
            "scope": "openid email",
            "id_token": key.sign_jwt(claims),
        },
    )
    mock.get(endpoints.certs_uri, json=key.x509_certs())


def test_unverified_address_does_not_take_an_invitation(
    app: Flask, client: FlaskClient, factory: Factory, tmp_path: Path
) -> None:
    account = factory.account("Acme")
    db.session.add(Invitation(account_id=account.id, email="grace.hopper@example.org", role=Role.ADMIN))
    db.session.commit()
    query = parse_qs(urlsplit(start_sign_in(client)).query)
    with responses.RequestsMock() as mock:
        _unverified_token_endpoint(app, mock, query["nonce"][0], SigningKey.generate())
        client.get("/auth/callback", query_string={"state": query["state"][0], "code": "4/unverified"})
    membership = db.session.scalars(
        select(Membership).join(User).where(User.google_sub == "unverified-sub-1")
    ).one()
    assert membership.account_id != account.id
    assert db.session.query(Invitation).count() == 1
    assert "Google has not verified that address" in client.get("/dashboard").get_data(as_text=True)


def test_two_first_sign_ins_of_one_person_at_once_make_one_account(app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL; SQLite admits one writer at a time")
    identity = Identity(sub="concurrent-sub", email="twin@example.com", email_verified=True, name="Twin")
    results: list[object] = []
    with Session(db.engine) as first, Session(db.engine) as second:
        first_user, _, _ = services.admit(first, identity)

        def second_sign_in() -> None:
            with app.app_context():
                try:
                    user, memberships, _ = services.admit(second, identity)
                    second.commit()
                    results.append((user.id, len(memberships)))
                except Exception as exc:
                    results.append(exc)

        worker = threading.Thread(target=second_sign_in)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), f"the second sign-in did not wait for the first: {results}"
        first.commit()
        worker.join(timeout=10)
        assert results == [(first_user.id, 1)]
    assert db.session.query(User).count() == 1
    assert db.session.query(Account).count() == 1
