"""Per-account session limits, the list of one's sessions, signing out one or everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask, session
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import LoginSession, Membership, Role
from app.accounts.tenancy import sign_in
from app.db import utcnow
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import SecurityPolicy, SessionDetail
from tests.conftest import Factory
from tests.security.helpers import post

SignIn = Callable[[Membership], FlaskClient]


def _limits(account_id: int, idle_minutes: int, absolute_hours: int) -> None:
    db.session.add(
        SecurityPolicy(
            account_id=account_id,
            second_factor="off",
            idle_minutes=idle_minutes,
            absolute_hours=absolute_hours,
        )
    )
    db.session.commit()


def _age(membership: Membership, **changes: object) -> None:
    login = db.session.scalars(select(LoginSession).where(LoginSession.membership_id == membership.id)).one()
    for name, value in changes.items():
        setattr(login, name, value)
    db.session.commit()


def test_the_accounts_idle_limit_ends_a_session(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    _limits(account.id, idle_minutes=15, absolute_hours=8)
    client = signed_in(admin)
    _age(admin, last_seen_at=utcnow() - timedelta(minutes=14))
    assert client.get("/dashboard").status_code == 200
    _age(admin, last_seen_at=utcnow() - timedelta(minutes=16))
    answer = client.get("/dashboard")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/sign-in"
    assert "signed out after a time without activity" in client.get("/sign-in").get_data(as_text=True)
    assert db.session.scalars(select(LoginSession)).all() == []


def test_the_accounts_absolute_limit_ends_a_busy_session(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _limits(account.id, idle_minutes=60, absolute_hours=8)
    client = signed_in(member)
    _age(member, created_at=utcnow() - timedelta(hours=8, minutes=1), last_seen_at=utcnow())
    answer = client.get("/dashboard", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "session_ended"


def test_another_accounts_limits_do_not_apply(factory: Factory, signed_in: SignIn) -> None:
    strict, relaxed = factory.account(), factory.account()
    _limits(strict.id, idle_minutes=5, absolute_hours=1)
    member = factory.member(relaxed, Role.MEMBER)
    client = signed_in(member)
    _age(member, last_seen_at=utcnow() - timedelta(minutes=30))
    assert client.get("/dashboard").status_code == 200


def _sign_in_from(app: Flask, membership: Membership, ip: str, browser: str) -> FlaskClient:
    """A real session started by a request from ``ip`` with this User-Agent."""
    client = app.test_client()
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": ip}, headers={"User-Agent": browser}):
        sign_in(membership)
        token = session["login"]
    with client.session_transaction() as stored:
        stored["login"] = token
    return client


def test_ones_sessions_are_listed_with_where_they_came_from(app: Flask, factory: Factory) -> None:
    member = factory.member(factory.account("Acme"), Role.MEMBER)
    laptop = _sign_in_from(app, member, "192.0.2.10", "Laptop browser")
    _sign_in_from(app, member, "2001:db8::7", "Phone browser")
    _sign_in_from(app, factory.member(factory.account(), Role.MEMBER), "198.51.100.1", "Stranger browser")
    before = db.session.scalars(select(LoginSession.last_seen_at)).all()
    page = laptop.get("/security/").get_data(as_text=True)
    assert page.count('data-testid="session-') == 2
    for shown in ("Laptop browser", "192.0.2.10", "Phone browser", "2001:db8::7", "(this browser)"):
        assert shown in page
    assert "Stranger browser" not in page
    assert "198.51.100.1" not in page
    assert db.session.scalars(select(SessionDetail)).all() == [], "viewing pages writes no session detail"
    assert len(before) == 3


def test_signing_out_one_other_session(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    laptop, phone = signed_in(member), signed_in(member)
    phone.get("/dashboard")
    phone_id = max(s.id for s in db.session.scalars(select(LoginSession)))
    answer = post(laptop, f"/security/sessions/{phone_id}/end", page="/security/")
    assert answer.status_code == 302
    assert phone.get("/dashboard").status_code == 302
    assert laptop.get("/dashboard").status_code == 200


def test_sign_out_everywhere_ends_every_session_in_every_account(factory: Factory, signed_in: SignIn) -> None:
    first = factory.member(factory.account(), Role.MEMBER)
    second = Membership(account=factory.account(), user=first.user, role=Role.ADMIN)
    db.session.add(second)
    db.session.commit()
    someone_else = signed_in(factory.member(first.account, Role.MEMBER))
    clients = [signed_in(first), signed_in(first), signed_in(second)]
    answer = post(clients[0], "/security/sessions/end-all", page="/security/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/sign-in"
    assert all(c.get("/dashboard").status_code == 302 for c in clients)
    assert someone_else.get("/dashboard").status_code == 200
    entry = entries_of(db.session, first.account_id)[0]
    assert entry.action == AuditAction.SESSIONS_ENDED
    assert entry.detail == '{"sessions":3}'


def test_a_session_of_someone_else_cannot_be_ended(factory: Factory, signed_in: SignIn) -> None:
    me = factory.member(factory.account(), Role.MEMBER)
    other = factory.member(me.account, Role.MEMBER)
    mine, theirs = signed_in(me), signed_in(other)
    theirs.get("/dashboard")
    their_id = db.session.scalars(select(LoginSession.id).where(LoginSession.membership_id == other.id)).one()
    assert post(mine, f"/security/sessions/{their_id}/end", page="/security/").status_code == 404
    assert theirs.get("/dashboard").status_code == 200
