"""Server-side sessions: idle limit, lifetime, and how often a page view writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import LoginSession, Membership, Role
from app.accounts.tenancy import SESSION_IDLE_LIMIT, SESSION_LIFETIME
from app.db import utcnow
from app.extensions import db
from tests.conftest import Factory

SignIn = Callable[[Membership], FlaskClient]


def _only_session() -> LoginSession:
    return db.session.scalars(select(LoginSession)).one()


def _age(**changes: object) -> None:
    login = _only_session()
    for name, value in changes.items():
        setattr(login, name, value)
    db.session.commit()


def test_an_idle_session_is_over(factory: Factory, signed_in: SignIn) -> None:
    client = signed_in(factory.member(factory.account(), Role.MEMBER))
    _age(last_seen_at=utcnow() - SESSION_IDLE_LIMIT - timedelta(minutes=1))
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_a_busy_session_still_ends_after_its_lifetime(factory: Factory, signed_in: SignIn) -> None:
    client = signed_in(factory.member(factory.account(), Role.MEMBER))
    _age(created_at=utcnow() - SESSION_LIFETIME - timedelta(minutes=1), last_seen_at=utcnow())
    assert client.get("/dashboard").status_code == 302


def test_page_views_write_last_seen_at_most_once_a_minute(factory: Factory, signed_in: SignIn) -> None:
    client = signed_in(factory.member(factory.account(), Role.MEMBER))
    recent = utcnow() - timedelta(seconds=20)
    _age(last_seen_at=recent)
    assert client.get("/dashboard").status_code == 200
    db.session.expire_all()
    assert _only_session().last_seen_at == recent
    _age(last_seen_at=utcnow() - timedelta(minutes=5))
    client.get("/dashboard")
    db.session.expire_all()
    assert _only_session().last_seen_at > recent


def test_expired_sessions_are_deleted_when_someone_signs_in(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    signed_in(factory.member(account, Role.MEMBER))
    _age(last_seen_at=utcnow() - SESSION_IDLE_LIMIT - timedelta(minutes=1))
    stale = _only_session().token_hash
    signed_in(factory.member(account, Role.ADMIN))
    db.session.expire_all()
    assert _only_session().token_hash != stale
