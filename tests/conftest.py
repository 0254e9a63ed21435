"""Shared fixtures: a real app on a real database (SQLite and PostgreSQL), real rows, signed-in clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient

from app import create_app
from app.accounts.models import Account, Membership, Role, User
from app.config import Settings
from app.crm import rate_limits
from app.extensions import db
from groupsync_emulator.cli import RunningEmulator, serve_in_thread
from groupsync_emulator.hooks import HooksClient
from groupsync_emulator.state import ClientSpec, EmulatorMode, EmulatorSettings

PG_ADMIN_URL = os.environ.get("GROUPSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin(statement: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(statement))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'groupsync.sqlite3'}"
        return
    # The process id keeps concurrent test runs on one server (several developers, xdist workers) apart.
    name = f"groupsync_test_{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, instance: Path, **overrides: object) -> Settings:
    env = {
        "GROUPSYNC_ENV": "test",
        "DATABASE_URL": database_url,
        "GROUPSYNC_INSTANCE_PATH": str(instance),
        "GROUPSYNC_LOG_JSON": "false",
        "GROUPSYNC_TOKEN_KEYS": "k1:" + "A" * 43 + "=",
        # Fixed, so every app in the session matches the client the emulator has registered.
        "GROUPSYNC_GOOGLE_CLIENT_SECRET": "groupsync-test-client-secret",
    }
    return Settings.from_env(env).with_overrides(**overrides)


def google_client(settings: Settings) -> ClientSpec:
    """``settings``' OAuth client as registered in the Cloud console: id, secret, both callbacks."""
    callbacks = (f"{settings.public_url}/auth/callback", f"{settings.public_url}/google/callback")
    return ClientSpec(settings.google_client_id, settings.google_client_secret, callbacks)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """The local Google emulator (OAuth, OpenID Connect, People API) on a free loopback port.

    The client of ``make_settings``' defaults is configured, so it survives every reset.
    """
    defaults = make_settings("sqlite://", tmp_path_factory.mktemp("emulator"))
    running = serve_in_thread(EmulatorSettings(mode=EmulatorMode.TEST, clients=(google_client(defaults),)))
    yield running
    running.stop()


def register_google_client(hooks: HooksClient, settings: Settings) -> None:
    """Register another app's client (e.g. one with its own public URL) for the current test."""
    client = google_client(settings)
    hooks.register_client(client.client_id, client.client_secret, list(client.redirect_uris))


@pytest.fixture
def google(emulator: RunningEmulator) -> HooksClient:
    """The emulator emptied for this test (the app's OAuth client stays registered); drives its hooks."""
    hooks = HooksClient(emulator.url)
    hooks.reset()
    return hooks


@pytest.fixture(scope="session")
def base_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, emulator: RunningEmulator
) -> Iterator[Flask]:
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("instance"), google_emulator_host=emulator.host_port
    )
    app = create_app(settings)
    # The `app` fixture keeps an app context open, and Flask reuses it for every request (and
    # every client), so `g` would carry the signed-in membership and the CSRF token from one
    # request into the next. Each request starts with an empty `g`, as it does in production.
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def _fresh_request_globals() -> None:
    vars(g._get_current_object()).clear()


@pytest.fixture
def app(base_app: Flask) -> Iterator[Flask]:
    """The session's app with empty tables for each test."""
    rate_limits.reset(base_app)
    with base_app.app_context():
        yield base_app
        db.session.rollback()
        db.session.remove()
        _empty_all_tables()


def _empty_all_tables() -> None:
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            # The ledger's insert-only trigger lets TRUNCATE through only in maintenance mode.
            conn.execute(sa.text("SET LOCAL groupsync.ledger_maintenance = 'on'"))
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Factory:
    """Builds real rows in the test database."""

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def account(self, name: str | None = None) -> Account:
        account = Account(name=name or f"Account {self._next()}")
        db.session.add(account)
        db.session.commit()
        return account

    def member(self, account: Account, role: Role = Role.MEMBER, email: str | None = None) -> Membership:
        n = self._next()
        user = User(google_sub=f"sub-{n}", email=email or f"user{n}@example.test", name=f"User {n}")
        membership = Membership(account=account, user=user, role=role)
        db.session.add_all([user, membership])
        db.session.commit()
        return membership


@pytest.fixture
def factory(app: Flask) -> Factory:
    return Factory()


def sign_in_client(app: Flask, membership: Membership) -> FlaskClient:
    """A test client holding a real server-side session for ``membership``."""
    from app.accounts.tenancy import sign_in

    client = app.test_client()
    with app.test_request_context("/"):
        from flask import session

        sign_in(membership)
        token = session["login"]
    with client.session_transaction() as sess:
        sess["login"] = token
    return client


@pytest.fixture
def signed_in(app: Flask) -> object:
    return lambda membership: sign_in_client(app, membership)
