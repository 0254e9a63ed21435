"""Unused accounts by the clock: warned, frozen, unfrozen or deleted, the copy kept and restored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.accounts.activity import GRANULARITY, note_api_use, timeline
from app.accounts.models import Account, AccountCopy, Membership, Role
from app.config import Settings
from app.crm import services as crm_services
from app.crm.models import CrmContact
from app.db import utcnow
from app.extensions import db
from app.flows import inactivity
from app.google.keys import KeyringProvider, new_key_spec
from app.google.models import ConnectionStatus, GoogleConnection
from app.google.vault import TokenUnreadableError, TokenVault
from app.security.audit import entries_of, verify_audit
from app.sync import schedule
from app.worker.tasks import CHORES_BY_NAME
from groupsync_emulator.hooks import HooksClient
from tests.auth.flows import csrf_token
from tests.conftest import Factory
from tests.subject_requests.conftest import Outbox
from tests.sync.engine import World, person

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ADMIN = "ada.admin@quiet.example"
SignIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def outbox(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outbox:
    folder = tmp_path / "mail"
    settings: Settings = app.config["GROUPSYNC"]
    monkeypatch.setitem(app.config, "GROUPSYNC", settings.with_overrides(mail_transport=f"file:{folder}"))
    return Outbox(folder)


@dataclass
class Shop:
    account: Account
    admin: Membership
    member: Membership
    start: datetime
    """The last activity: every test's clock counts from it."""


def _quiet(account: Account) -> datetime:
    start = utcnow().replace(microsecond=0)
    account.last_active_at = start
    db.session.commit()
    return start


@pytest.fixture
def shop(factory: Factory, outbox: Outbox) -> Shop:
    account = factory.account("Quiet Shop")
    admin = factory.member(account, Role.ADMIN, email=ADMIN)
    member = factory.member(account, Role.MEMBER, email="max.member@quiet.example")
    crm_services.upsert_contact(db.session, account.id, "c-olena", {"given_name": "Олена Secretname"})
    return Shop(account, admin, member, _quiet(account))


def _settings(app: Flask) -> Settings:
    settings: Settings = app.config["GROUPSYNC"]
    return settings


def _run(app: Flask, when: datetime) -> int:
    """The chore as the worker registers it, at ``when``."""
    return CHORES_BY_NAME["inactive-accounts"].run(db.session(), _settings(app), when)


def _actions(account_id: int) -> list[str]:
    db.session.expire_all()
    return [entry.action for entry in reversed(entries_of(db.session, account_id))]


def _account(account_id: int) -> Account | None:
    db.session.expire_all()
    return db.session.get(Account, account_id)


def test_the_default_periods_are_a_year_a_week_a_month_and_half_a_year(app: Flask) -> None:
    settings = Settings.from_env({"GROUPSYNC_ENV": "test"})
    assert (
        settings.inactive_freeze_days,
        settings.inactive_warn_days,
        settings.inactive_unfreeze_days,
        settings.inactive_copy_days,
    ) == (365, 7, 30, 180)


def test_warned_a_week_ahead_then_frozen_then_unfrozen_by_an_admin(
    app: Flask, shop: Shop, outbox: Outbox
) -> None:
    account_id, start = shop.account.id, shop.start

    assert _run(app, start + 357 * DAY) == 0
    assert outbox.messages() == []

    _run(app, start + 358 * DAY + HOUR)
    _run(app, start + 358 * DAY + 2 * HOUR)  # a second run warns nobody twice
    (warning,) = outbox.messages()
    assert warning["To"] == ADMIN, "only admins are warned"
    assert "frozen" in warning["Subject"]
    body = outbox.body(warning)
    freeze_day = (start + 365 * DAY + HOUR).strftime("%Y-%m-%d")
    delete_day = (start + 395 * DAY + HOUR).strftime("%Y-%m-%d")
    assert freeze_day in body
    assert delete_day in body
    account = _account(account_id)
    assert account is not None
    life = timeline(account, _settings(app))
    assert life.warned
    assert not life.frozen
    assert (life.freeze_at, life.delete_at) == (start + 365 * DAY + HOUR, start + 395 * DAY + HOUR)

    # The freeze comes a full week after the warning, even though the year ended an hour earlier.
    _run(app, start + 365 * DAY)
    assert _account(account_id).frozen_at is None  # type: ignore[union-attr]
    _run(app, start + 365 * DAY + HOUR)
    account = _account(account_id)
    assert account is not None
    assert account.frozen_at == start + 365 * DAY + HOUR
    frozen_mail = outbox.messages()[-1]
    assert (frozen_mail["To"], len(outbox.messages())) == (ADMIN, 2)
    assert delete_day in outbox.body(frozen_mail)

    with pytest.raises(inactivity.LifecycleError):
        inactivity.unfreeze(db.session(), shop.member, start + 370 * DAY)
    assert inactivity.unfreeze(db.session(), shop.admin, start + 370 * DAY)
    assert not inactivity.unfreeze(db.session(), shop.admin, start + 370 * DAY)
    account = _account(account_id)
    assert account is not None
    assert (account.frozen_at, account.inactivity_warned_at) == (None, None)
    assert account.last_active_at == start + 370 * DAY

    _run(app, start + 400 * DAY)
    assert _account(account_id) is not None, "an unfrozen account is not deleted"
    assert _actions(account_id) == ["account.inactivity_warned", "account.frozen", "account.unfrozen"]
    assert verify_audit(db.session()).ok


def test_signing_in_or_using_the_api_withdraws_the_warning(
    app: Flask, shop: Shop, outbox: Outbox, signed_in: SignIn
) -> None:
    account_id, now = shop.account.id, utcnow()
    shop.account.last_active_at = now - 359 * DAY
    db.session.commit()
    _run(app, now)
    assert _account(account_id).inactivity_warned_at is not None  # type: ignore[union-attr]

    signed_in(shop.member)  # a sign-in, by anyone in the account

    account = _account(account_id)
    assert account is not None
    assert account.inactivity_warned_at is None
    assert account.last_active_at >= now
    _run(app, now + 8 * DAY)
    assert _account(account_id).frozen_at is None  # type: ignore[union-attr]

    # API use counts too, written at most once an hour.
    later = account.last_active_at + 30 * DAY
    note_api_use(db.session, account_id, later)
    note_api_use(db.session, account_id, later + GRANULARITY / 2)
    assert _account(account_id).last_active_at == later  # type: ignore[union-attr]
    note_api_use(db.session, account_id, later + GRANULARITY)
    assert _account(account_id).last_active_at == later + GRANULARITY  # type: ignore[union-attr]


def test_a_failed_warning_mail_is_sent_at_the_next_run_and_the_freeze_waits_for_it(
    app: Flask, shop: Shop, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, start = shop.account.id, shop.start
    settings = _settings(app)
    monkeypatch.setitem(app.config, "GROUPSYNC", settings.with_overrides(mail_transport="smtp://127.0.0.1:9"))
    _run(app, start + 360 * DAY)
    assert _account(account_id).inactivity_warned_at is None  # type: ignore[union-attr]
    _run(app, start + 366 * DAY)
    assert _account(account_id).frozen_at is None, "never frozen without a warning"  # type: ignore[union-attr]

    monkeypatch.setitem(app.config, "GROUPSYNC", settings)
    _run(app, start + 367 * DAY)
    assert len(outbox.messages()) == 1
    _run(app, start + 373 * DAY)
    assert _account(account_id).frozen_at is None  # type: ignore[union-attr]
    _run(app, start + 374 * DAY)
    assert _account(account_id).frozen_at == start + 374 * DAY  # type: ignore[union-attr]


def _delete(app: Flask, account_id: int, start: datetime) -> datetime:
    """Warn, freeze and delete the account by the clock; returns when it was deleted."""
    _run(app, start + 358 * DAY)
    _run(app, start + 365 * DAY)
    _run(app, start + 394 * DAY)
    assert _account(account_id) is not None, "still within the month to unfreeze"
    deleted = start + 395 * DAY
    _run(app, deleted)
    assert _account(account_id) is None
    return deleted


def test_a_copy_is_kept_sealed_for_180_days_then_destroyed(app: Flask, shop: Shop) -> None:
    account_id, start = shop.account.id, shop.start
    deleted = _delete(app, account_id, start)

    (copy,) = db.session.scalars(select(AccountCopy)).all()
    assert (copy.account_id, copy.deleted_at, copy.expires_at) == (account_id, deleted, deleted + 180 * DAY)
    assert copy.rows >= 4  # the account, two people, their memberships, the contact...
    assert b"Quiet Shop" not in copy.blob
    assert b"Secretname" not in copy.blob
    assert ADMIN.encode() not in copy.blob
    assert copy.key_id == "k1"
    assert db.session.scalar(select(func.count()).select_from(CrmContact)) == 0

    _run(app, deleted + 180 * DAY - HOUR)
    assert db.session.scalar(select(AccountCopy)) is not None
    _run(app, deleted + 180 * DAY)
    _run(app, deleted + 181 * DAY)
    db.session.expire_all()
    assert db.session.scalar(select(AccountCopy)) is None
    assert _actions(account_id) == [
        "account.inactivity_warned",
        "account.frozen",
        "account.deleted_for_inactivity",
        "account.copy_destroyed",
    ]
    assert verify_audit(db.session()).ok

    runner = app.test_cli_runner()
    assert runner.invoke(args=["accounts", "copies"]).output == ""
    gone = runner.invoke(args=["accounts", "restore", "--account", str(account_id)])
    assert gone.exit_code != 0
    assert f"no copy of account {account_id} is kept" in gone.output


def test_a_copy_that_does_not_open_restores_nothing(app: Flask, shop: Shop) -> None:
    account_id = shop.account.id
    _delete(app, account_id, shop.start)
    copy = db.session.scalars(select(AccountCopy)).one()
    copy.account_id = account_id + 1000  # bound to the account it was sealed for: moved, it fails
    db.session.commit()
    refused = app.test_cli_runner().invoke(args=["accounts", "restore", "--account", str(account_id + 1000)])
    assert refused.exit_code != 0
    assert "does not open" in refused.output
    assert _account(account_id) is None
    assert _account(account_id + 1000) is None


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, signed_in: SignIn, outbox: Outbox) -> World:
    world = World(app, google, factory, signed_in)
    world.upsert(person("c1", "Olena"), person("c2", "Taras"), person("c3", "Iryna"))
    run = world.run()
    assert run is not None
    assert run.outcome.value == "ok"
    return world


def test_a_frozen_account_runs_no_sync_and_its_api_answers_403(
    app: Flask, world: World, factory: Factory
) -> None:
    account_id = world.account.id
    admin = factory.member(world.account, Role.ADMIN)
    _, secret = crm_services.create_api_key(db.session, account_id, "ci", admin.user_id)
    start = _quiet(world.account)
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    assert client.get("/api/v1/lists", headers=headers).status_code == 200

    _run(app, start + 358 * DAY)
    _run(app, start + 365 * DAY)
    assert _account(account_id).frozen_at is not None  # type: ignore[union-attr]

    for path in ("/api/v1/lists", "/api/v1/admin/members"):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "account_frozen"
    world.upsert(person("c4", "Ostap"))
    mark = len(world.google.log())
    assert world.sync.id not in schedule.due_syncs(db.session, start + 400 * DAY)
    assert world.run() is None
    assert world.google.log()[mark:] == [], "no Google call while frozen"

    unfreezer = next(m for m in world.account.memberships if m.role is Role.ADMIN)
    inactivity.unfreeze(db.session(), unfreezer, start + 366 * DAY)
    assert client.get("/api/v1/lists", headers=headers).status_code == 200
    run = world.run()
    assert run is not None
    assert run.created == 1


def test_deletion_asks_google_to_delete_nothing_and_the_operator_restores_the_copy(
    app: Flask, world: World, factory: Factory
) -> None:
    account_id, group = world.account.id, world.group
    factory.member(world.account, Role.ADMIN, email=ADMIN)
    contacts_before = len(world.group_contacts(group))
    start = _quiet(world.account)
    mark = len(world.google.log())

    _delete(app, account_id, start)

    methods = [entry["method"] for entry in world.google.log(mark)]
    assert not [m for m in methods if "delete" in m.lower()], methods
    assert len(world.group_contacts(group)) == contacts_before == 3, "contacts in Google stay"
    runner = app.test_cli_runner()
    (line,) = runner.invoke(args=["accounts", "copies"]).output.splitlines()
    listed = json.loads(line)
    assert listed["account_id"] == account_id
    assert "Acme" not in line

    done = runner.invoke(args=["accounts", "restore", "--account", str(account_id)])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["restored_account_id"] == account_id
    account = _account(account_id)
    assert account is not None
    assert account.name == "Acme CRM"
    assert (account.frozen_at, account.inactivity_warned_at) == (None, None)
    assert db.session.scalar(select(func.count()).select_from(CrmContact)) == 3
    assert len(account.memberships) == 2
    connection = db.session.scalar(select(GoogleConnection))
    assert connection is not None
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert db.session.scalar(select(AccountCopy)) is None, "the copy is used up"
    assert _actions(account_id)[-2:] == ["account.deleted_for_inactivity", "account.restored"]
    assert verify_audit(db.session()).ok


def test_the_pages_show_the_frozen_state_and_an_admin_unfreezes(
    app: Flask, shop: Shop, signed_in: SignIn
) -> None:
    admin_client, member_client = signed_in(shop.admin), signed_in(shop.member)
    start = _quiet(shop.account)
    dashboard = admin_client.get("/dashboard").get_data(as_text=True)
    assert 'data-testid="account-life"' in dashboard
    assert 'data-testid="frozen-banner"' not in dashboard
    _run(app, start + 358 * DAY)
    _run(app, start + 365 * DAY)

    page = member_client.get("/dashboard").get_data(as_text=True)
    assert 'data-testid="frozen-banner"' in page
    assert 'data-testid="unfreeze"' not in page, "only admins unfreeze"
    page = admin_client.get("/security/admin").get_data(as_text=True)
    assert 'data-testid="frozen-banner"' in page
    assert 'data-testid="life-frozen"' in page
    refused = member_client.post(
        "/account/unfreeze", data={"csrf_token": csrf_token(member_client, "/dashboard")}
    )
    assert refused.status_code in (302, 403)
    assert _account(shop.account.id).frozen_at is not None  # type: ignore[union-attr]

    done = admin_client.post("/account/unfreeze", data={"csrf_token": csrf_token(admin_client, "/dashboard")})
    assert done.status_code == 302
    assert _account(shop.account.id).frozen_at is None  # type: ignore[union-attr]
    assert 'data-testid="frozen-banner"' not in admin_client.get("/dashboard").get_data(as_text=True)


def test_key_rotation_reseals_the_copy_under_the_new_key(app: Flask, shop: Shop) -> None:
    account_id = shop.account.id
    _delete(app, account_id, shop.start)
    configured, fresh = _settings(app).token_keys, new_key_spec("k2")
    both = TokenVault(KeyringProvider.from_spec(f"{fresh},{configured}"))

    report = both.rotate_all(db.session())
    assert report.unreadable == 0
    db.session.expire_all()
    assert db.session.scalars(select(AccountCopy)).one().key_id == "k2"

    assert configured is not None
    only_old = TokenVault(KeyringProvider.from_spec(configured))
    with pytest.raises(TokenUnreadableError):
        inactivity.restore(db.session(), account_id, vault=only_old, now=utcnow())
    # The old key can be retired: the new one alone opens the copy.
    only_new = TokenVault(KeyringProvider.from_spec(fresh))
    loaded = inactivity.restore(db.session(), account_id, vault=only_new, now=utcnow())
    assert loaded.account_id == account_id
    assert _account(account_id) is not None


def test_a_person_who_signed_up_again_keeps_their_new_user_row_when_the_account_returns(
    app: Flask, shop: Shop, factory: Factory
) -> None:
    account_id, sub = shop.account.id, shop.admin.user.google_sub
    _delete(app, account_id, shop.start)
    elsewhere = factory.account("New Home")
    again = factory.member(elsewhere, Role.ADMIN, email="ada.again@quiet.example")
    again.user.google_sub = sub
    db.session.commit()
    user_id = again.user_id

    done = app.test_cli_runner().invoke(args=["accounts", "restore", "--account", str(account_id)])

    assert done.exit_code == 0, done.output
    account = _account(account_id)
    assert account is not None
    admins = [m for m in account.memberships if m.role is Role.ADMIN]
    assert [m.user_id for m in admins] == [user_id]
    assert admins[0].user.email == "ada.again@quiet.example"
