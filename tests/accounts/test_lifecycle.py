"""Members and accounts leaving, against the emulator: groups emptied, access revoked, ledger kept."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Account, Membership, Role, User
from app.crm.services import withdraw_access
from app.extensions import db
from app.flows.members import remove_member, wind_down
from app.flows.rights import delete_account
from app.google.models import ConnectionStatus, GoogleConnection, StatusReason
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.ledger.verify import verify_database
from app.sync.mapping import read_tag
from groupsync_emulator.hooks import HooksClient
from tests.auth.flows import csrf_token
from tests.conftest import Factory
from tests.google.connecting import connection_of, settings_of, vault_of
from tests.sync.engine import World, fast_people, person

SignIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, signed_in: SignIn) -> World:
    """A member whose sync put three contacts into their Google group, beside their own contacts."""
    world = World(app, google, factory, signed_in)
    world.upsert(person("c1", "Olena"), person("c2", "Taras"), person("c3", "Iryna"))
    run = world.run()
    assert run is not None
    assert run.outcome.value == "ok"
    world.assert_mirrors({"c1": "Olena", "c2": "Taras", "c3": "Iryna"})
    return world


def _entries(tag: EventTag) -> list[LedgerEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(LedgerEntry).where(LedgerEntry.tag == tag.value).order_by(LedgerEntry.id))
    )


def _methods_since(google: HooksClient, mark: int) -> list[str]:
    return [entry["method"] for entry in google.log(mark)]


def test_a_list_withdrawn_from_the_member_leaves_their_group_at_the_next_sync(world: World) -> None:
    assert withdraw_access(db.session, world.list, world.member.id, "user:0")
    run = world.run()
    assert run is not None
    assert (run.outcome.value, run.deleted) == ("ok", 3)
    world.assert_mirrors({})
    assert world.rows() == {}


def test_removing_a_member_empties_their_group_then_revokes(
    app: Flask, world: World, factory: Factory, signed_in: SignIn
) -> None:
    admin = factory.member(world.account, Role.ADMIN)
    client = signed_in(admin)
    group, tag, membership_id = world.group, world.sync.tag, world.member.id
    mark = len(world.google.log())
    answer = client.post(
        f"/account/members/{world.member.id}/remove",
        data={"csrf_token": csrf_token(client, "/account/members"), "confirmed": "yes"},
    )
    assert answer.status_code == 302

    assert world.group_contacts(group) == []
    assert not [
        c for c in world.snapshot()["contacts"].values() if (read_tag(c["fields"]) or ("",))[0] == tag
    ]
    assert world.personal_part() == world.personal_before
    methods = _methods_since(world.google, mark)
    deletes = [i for i, m in enumerate(methods) if m.startswith("people.") and "delete" in m.lower()]
    revokes = [i for i, m in enumerate(methods) if "revoke" in m]
    assert deletes
    assert len(revokes) == 1
    assert max(deletes) < revokes[0], methods

    connection = db.session.scalar(select(GoogleConnection))
    assert connection is not None
    assert (connection.status, connection.status_reason) == (
        ConnectionStatus.DISCONNECTED,
        StatusReason.DISCONNECTED_BY_ADMIN,
    )
    assert connection.refresh_token_ciphertext is None
    (stopped,) = _entries(EventTag.SYNC_DISABLED)
    assert (stopped.outcome, stopped.records) == ("cleaned_up", 0)
    assert json.loads(stopped.detail)["reason"] == "member_removed"
    assert [e.outcome for e in _entries(EventTag.CONNECTION_REVOKED)] == ["revoked"]
    assert db.session.get(Membership, membership_id) is None


def test_a_removal_stopped_after_its_steps_is_finished_by_removing_again(app: Flask, world: World) -> None:
    membership_id, group = world.member.id, world.group
    # The process died after the final sync and the disconnect, before the membership was deleted.
    left = wind_down(
        db.session(), world.member, settings=settings_of(app), vault=vault_of(app), people=fast_people
    )
    assert left == {world.sync.id: 0}
    assert db.session.get(Membership, membership_id) is not None
    mark = len(world.google.log())

    remove_member(
        db.session(), world.member, settings=settings_of(app), vault=vault_of(app), people=fast_people
    )

    assert db.session.get(Membership, membership_id) is None
    assert _methods_since(world.google, mark) == [], "nothing left to ask Google"
    assert [e.outcome for e in _entries(EventTag.SYNC_DISABLED)] == ["cleaned_up"]
    assert [e.outcome for e in _entries(EventTag.CONNECTION_REVOKED)] == ["revoked"]
    assert world.group_contacts(group) == []


def test_when_the_final_sync_cannot_run_the_member_is_disconnected_anyway_and_the_ledger_says_contacts_stayed(
    app: Flask, world: World
) -> None:
    connection = connection_of(world.member)
    assert connection is not None
    connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
    db.session.commit()

    left = wind_down(
        db.session(), world.member, settings=settings_of(app), vault=vault_of(app), people=fast_people
    )

    assert left == {world.sync.id: 3}
    world.assert_mirrors({"c1": "Olena", "c2": "Taras", "c3": "Iryna"})
    (stopped,) = _entries(EventTag.SYNC_DISABLED)
    assert (stopped.outcome, stopped.records) == ("contacts_stayed", 3)
    assert json.loads(stopped.detail)["contacts_left_in_google"] == 3
    connection = connection_of(world.member)
    assert connection is not None
    assert connection.status is ConnectionStatus.DISCONNECTED
    assert world.reload().enabled is False


def test_deleting_an_account_disconnects_every_member_first_and_keeps_the_ledger(
    app: Flask, world: World, factory: Factory
) -> None:
    account_id, user_id = world.account.id, world.member.user_id
    admin = factory.member(world.account, Role.ADMIN)
    admin_user_id = admin.user_id
    elsewhere = factory.account("Other Shop")
    stays = Membership(account_id=elsewhere.id, user_id=admin_user_id, role=Role.ADMIN)
    db.session.add(stays)
    db.session.commit()
    stays_id = stays.id
    group = world.group
    ledger_before = len(
        list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account_id)))
    )

    receipt = delete_account(
        db.session(), world.account, f"user:{admin_user_id}", settings=settings_of(app), vault=vault_of(app)
    )

    assert receipt.revocations == {account_id: "revoked"}
    assert receipt.rows["account"] == 1
    assert receipt.rows["synced_contact"] == 3
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if "account_id" in table.c and table.name != "ledger_entry":
                rows = conn.execute(sa.select(table).where(table.c.account_id == account_id)).all()
                assert rows == [], table.name
    assert db.session.get(Account, account_id) is None
    assert db.session.get(User, user_id) is None
    assert db.session.get(User, admin_user_id) is not None
    assert db.session.get(Membership, stays_id) is not None
    assert db.session.scalar(select(GoogleConnection)) is None

    kept = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account_id)))
    assert len(kept) > ledger_before
    revoked = [e for e in kept if e.tag == EventTag.CONNECTION_REVOKED.value]
    assert [e.outcome for e in revoked] == ["revoked"]
    assert kept[-1].tag == EventTag.DATA_DELETED.value
    assert kept[-1].records == sum(receipt.rows.values())
    assert verify_database(db.session()).ok
    # Contacts already in Google stay; the user's own contacts were never touched.
    assert len(world.group_contacts(group)) == 3
    assert world.personal_part() == world.personal_before


def test_the_accounts_delete_command_wants_the_accounts_name(app: Flask, factory: Factory) -> None:
    account = factory.account("Closing Down Ltd")
    member = factory.member(account, Role.ADMIN)
    account_id, user_id = account.id, member.user_id
    runner = app.test_cli_runner()

    wrong = runner.invoke(args=["accounts", "delete", "--account", str(account_id), "--confirm", "closing"])
    assert wrong.exit_code != 0
    assert "--confirm: give the account's name, 'Closing Down Ltd'" in wrong.output
    assert db.session.get(Account, account_id) is not None
    missing = runner.invoke(args=["accounts", "delete", "--account", "999999", "--confirm", "x"])
    assert "--account: no account has the id 999999" in missing.output

    done = runner.invoke(
        args=["accounts", "delete", "--account", str(account_id), "--confirm", "Closing Down Ltd"]
    )
    assert done.exit_code == 0, done.output
    receipt = json.loads(done.output)
    assert receipt["rows_deleted"] == {"account": 1, "membership": 1, "user": 1}
    assert receipt["user_id"] is None
    db.session.expire_all()
    assert db.session.get(Account, account_id) is None
    assert db.session.get(User, user_id) is None
    (deleted,) = _entries(EventTag.DATA_DELETED)
    assert (deleted.account_id, deleted.actor, deleted.records) == (account_id, "system", 3)
