"""The admin gives a list to several domain members at once, and invites several colleagues at
once: one service call, one assignment (notice, sync, ledger and audit entries) or invitation per
person, and those that cannot be served reported by name while the others go ahead."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Invitation, Membership
from app.extensions import db
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.mail import Mailer
from app.security.audit import AuditAction
from app.security.models import AuditEntry
from app.sync.models import ContactSync
from app.workspace import members, services
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.workspace.world import DOMAIN, OKSANA, TARAS, DomainWorld


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, tmp_path: Path) -> DomainWorld:
    return DomainWorld(app, google, factory, tmp_path / "mail")


def _ledger(account_id: int, tag: EventTag) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id, LedgerEntry.tag == tag.value)
        )
    )


def _audit(account_id: int, action: AuditAction) -> list[dict[str, object]]:
    rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.account_id == account_id, AuditEntry.action == action.value)
    )
    return [json.loads(row.detail) for row in rows]


def _assign_many(world: DomainWorld, chosen: list[Membership]) -> members.BulkAssignment:
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    return members.assign_many(
        db.session,
        world.settings,
        Mailer.for_settings(world.settings),
        domain,
        admin=world.admin,
        members=chosen,
        contact_list=world.list,
    )


def test_one_call_gives_the_list_to_each_member_and_reports_who_could_not_have_it(
    world: DomainWorld,
) -> None:
    world.ready()
    result = _assign_many(world, [world.taras, world.oksana, world.outsider, world.taras])

    assert sorted(s.membership_id for s in result.assigned) == sorted([world.taras.id, world.oksana.id])
    assert [(r.email, r.reason) for r in result.refused] == [
        (world.outsider.user.email, f"{world.outsider.user.email} is not an address in {DOMAIN}")
    ]
    assert sorted(str(m["To"]) for m in world.mails()) == [OKSANA, TARAS]
    account = world.account.id
    assert {e.user_id for e in _ledger(account, EventTag.SYNC_ENABLED)} == {
        world.taras.user_id,
        world.oksana.user_id,
    }
    assert len(_ledger(account, EventTag.SYNC_ENABLED)) == 2
    assert len(_ledger(account, EventTag.DOMAIN_USER_NOTIFIED)) == 2
    granted = _audit(account, AuditAction.LIST_ACCESS_GRANTED)
    assert sorted(d["member_user_id"] for d in granted) == sorted([world.taras.user_id, world.oksana.user_id])
    assert {d["via"] for d in granted} == {"workspace"}
    slots = sorted(s.next_due_at for s in result.assigned if s.next_due_at is not None)
    assert len(slots) == 2
    assert (slots[1] - slots[0]).total_seconds() == 60 / world.settings.domain_first_runs_per_minute

    # Each assignment is whole: both syncs run and fill their users' groups.
    for sync in result.assigned:
        assert world.run(sync) is not None
    assert len(world.snapshot(TARAS)["contacts"]) == len(world.snapshot(OKSANA)["contacts"]) == 12


def test_what_concerns_the_whole_request_refuses_it_and_nothing_is_done(world: DomainWorld) -> None:
    world.delegate()
    world.connect()
    with pytest.raises(services.WorkspaceError, match="test the domain connection first"):
        _assign_many(world, [world.taras, world.oksana])
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    assert services.test(db.session, world.settings, world.vault, domain, world.admin).ok
    with pytest.raises(services.WorkspaceError, match="choose at least one member"):
        _assign_many(world, [])
    assert world.mails() == []
    assert db.session.scalars(select(ContactSync)).all() == []


def test_a_member_who_turned_their_sync_off_is_skipped_and_named(world: DomainWorld) -> None:
    world.ready()
    world.assign(world.taras)
    ((assignment, _),) = members.my_assignments(db.session, world.taras)
    members.turn_off(db.session, world.taras, assignment.id)

    result = _assign_many(world, [world.taras, world.oksana])
    assert [s.membership_id for s in result.assigned] == [world.oksana.id]
    assert [r.email for r in result.refused] == [TARAS]
    assert "turned this sync off for themselves" in result.refused[0].reason


def test_several_addresses_are_invited_at_once_each_one_audited(world: DomainWorld) -> None:
    domain = world.ready()
    text = f"Ann@{DOMAIN}, bob@{DOMAIN};\nstranger@elsewhere.example  {TARAS}\nann@{DOMAIN}"
    result = members.invite_many(db.session, domain, world.admin, text)

    assert result.invited == [f"ann@{DOMAIN}", f"bob@{DOMAIN}"]
    assert [r.email for r in result.refused] == ["stranger@elsewhere.example", TARAS]
    assert "not an address in" in result.refused[0].reason
    assert "already a member" in result.refused[1].reason
    invitations = db.session.scalars(select(Invitation).where(Invitation.account_id == world.account.id))
    assert sorted(i.email for i in invitations) == [f"ann@{DOMAIN}", f"bob@{DOMAIN}"]
    assert len(_audit(world.account.id, AuditAction.MEMBER_INVITED)) == 2

    with pytest.raises(services.WorkspaceError, match="at least one address"):
        members.invite_many(db.session, domain, world.admin, " ,\n ")
    too_many = " ".join(f"p{n}@{DOMAIN}" for n in range(members.MAX_INVITES + 1))
    with pytest.raises(services.WorkspaceError, match="too many"):
        members.invite_many(db.session, domain, world.admin, too_many)
    assert len(db.session.scalars(select(Invitation)).all()) == 2, "a refused paste invites no one"


# --- the page ---------------------------------------------------------------------------------------


def _flashes(client: FlaskClient) -> str:
    return html.unescape(client.get("/workspace/").text)


def test_the_page_gives_a_list_to_the_ticked_members_in_one_post(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient], factory: Factory
) -> None:
    world.ready()
    stranger = factory.member(factory.account("Elsewhere"), email=f"spy@{DOMAIN}")
    client = signed_in(world.admin)
    page = client.get("/workspace/")
    assert page.text.count('data-testid="assign-member"') == 3  # the admin, Oksana, Taras
    assert world.outsider.user.email not in page.text
    answer = client.post(
        "/workspace/assign",
        data={
            "csrf_token": csrf_token(page.text),
            "membership_id": [str(world.taras.id), str(world.oksana.id), str(stranger.id), "x"],
            "list_id": str(world.list.id),
        },
    )
    assert answer.status_code == 302
    shown = _flashes(client)
    assert "Customers will be synced into the Google Contacts of 2 members." in shown
    syncs = db.session.scalars(select(ContactSync)).all()
    assert sorted(s.membership_id for s in syncs) == sorted([world.taras.id, world.oksana.id])
    assert shown.count('data-testid="first-run-at"') == 2


def test_the_every_member_box_gives_the_list_to_each_domain_member(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    world.ready()
    client = signed_in(world.admin)
    page = client.get("/workspace/")
    assert 'data-select-all="membership_id"' in page.text
    client.post(
        "/workspace/assign",
        data={"csrf_token": csrf_token(page.text), "all_members": "yes", "list_id": str(world.list.id)},
    )
    assert "of 3 members" in _flashes(client)
    syncs = db.session.scalars(select(ContactSync)).all()
    assert sorted(s.membership_id for s in syncs) == sorted([world.admin.id, world.taras.id, world.oksana.id])


def test_the_page_names_refusals_and_asks_for_a_choice(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    world.ready()
    client = signed_in(world.admin)
    page = client.get("/workspace/")
    token = csrf_token(page.text)
    client.post("/workspace/assign", data={"csrf_token": token, "list_id": str(world.list.id)})
    assert "Choose at least one member and a list." in _flashes(client)

    answer = client.post(
        "/workspace/invite",
        data={"csrf_token": token, "email": f"ann@{DOMAIN}\nbob@{DOMAIN}, x@elsewhere.example"},
    )
    assert answer.status_code == 302
    shown = _flashes(client)
    assert f"Invited 2 colleagues (ann@{DOMAIN}, bob@{DOMAIN})" in shown
    assert f"Not invited: x@elsewhere.example is not an address in {DOMAIN}" in shown
    assert db.session.scalars(select(ContactSync)).all() == []
