"""Admin pages for people: invitations, roles, removal — and the rules they keep."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import services
from app.accounts.models import Invitation, LoginSession, Membership, Role
from app.extensions import db
from tests.auth.flows import csrf_token
from tests.conftest import Factory

SignIn = Callable[[Membership], FlaskClient]


def _post(client: FlaskClient, path: str, **form: str) -> str:
    """Submit a form as the page would and return the page shown afterwards."""
    data = {"csrf_token": csrf_token(client, "/account/members"), "confirmed": "yes", **form}
    response = client.post(path, data=data)
    assert response.status_code in {302, 303}, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


def test_members_page_lists_people_roles_and_invitations(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account("Acme")
    admin = factory.member(account, Role.ADMIN, email="boss@acme.example.com")
    factory.member(account, Role.REVIEWER, email="auditor@acme.example.com")
    db.session.add(Invitation(account_id=account.id, email="new@acme.example.com", role=Role.MEMBER))
    db.session.commit()
    page = signed_in(admin).get("/account/members").get_data(as_text=True)
    for text in ("boss@acme.example.com", "auditor@acme.example.com", "reviewer", "new@acme.example.com"):
        assert text in page


def test_invite_stores_a_normalised_address_and_reinviting_changes_the_role(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    client = signed_in(factory.member(account, Role.ADMIN))
    page = _post(client, "/account/invitations", email="  Grace.Hopper@Example.ORG ", role="reviewer")
    assert "Invited grace.hopper@example.org as reviewer" in page
    _post(client, "/account/invitations", email="grace.hopper@example.org", role="admin")
    invitation = db.session.scalars(select(Invitation)).one()
    assert (invitation.email, invitation.role, invitation.account_id) == (
        "grace.hopper@example.org",
        Role.ADMIN,
        account.id,
    )


def test_bad_invitations_are_refused_with_the_field_named(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    client = signed_in(factory.member(account, Role.ADMIN, email="boss@acme.example.com"))
    assert "E-mail address is not valid" in _post(
        client, "/account/invitations", email="not-an-address", role="member"
    )
    assert "Role must be one of admin, member, reviewer" in _post(
        client, "/account/invitations", email="x@acme.example.com", role="owner"
    )
    assert "already a member" in _post(
        client, "/account/invitations", email="Boss@Acme.Example.com", role="member"
    )
    assert db.session.query(Invitation).count() == 0


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("uk", "Некоректна адреса електронної пошти: немає знака @"),
        ("ru", "Некорректный адрес электронной почты: нет знака @"),
    ],
)
def test_a_refused_invitation_address_is_explained_in_the_reader_language(
    factory: Factory, signed_in: SignIn, language: str, expected: str
) -> None:
    admin = factory.member(factory.account(), Role.ADMIN)
    admin.user.language = language
    db.session.commit()
    page = _post(signed_in(admin), "/account/invitations", email="not-an-address", role="member")
    assert expected in page
    assert "@-sign" not in page
    assert db.session.query(Invitation).count() == 0


def test_withdrawing_an_invitation(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    client = signed_in(factory.member(account, Role.ADMIN))
    invitation = Invitation(account_id=account.id, email="x@acme.example.com", role=Role.MEMBER)
    db.session.add(invitation)
    db.session.commit()
    assert "Invitation withdrawn" in _post(client, f"/account/invitations/{invitation.id}/withdraw")
    assert db.session.query(Invitation).count() == 0


def test_changing_a_role(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    client = signed_in(factory.member(account, Role.ADMIN))
    member = factory.member(account, Role.MEMBER)
    assert "is now reviewer" in _post(client, f"/account/members/{member.id}/role", role="reviewer")
    db.session.refresh(member)
    assert member.role is Role.REVIEWER


def test_the_last_admin_can_be_neither_demoted_nor_removed(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    assert "last admin cannot be given another role" in _post(
        client, f"/account/members/{admin.id}/role", role="member"
    )
    assert "last admin cannot be removed" in _post(client, f"/account/members/{admin.id}/remove")
    db.session.refresh(admin)
    assert admin.role is Role.ADMIN


def test_an_admin_of_another_account_does_not_count(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    factory.member(factory.account(), Role.ADMIN)
    client = signed_in(admin)
    assert "last admin cannot be removed" in _post(client, f"/account/members/{admin.id}/remove")


def test_removal_ends_every_session_of_the_member_at_once(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin_client = signed_in(factory.member(account, Role.ADMIN))
    member = factory.member(account, Role.MEMBER, email="leaver@acme.example.com")
    laptop, phone = signed_in(member), signed_in(member)
    assert laptop.get("/dashboard").status_code == 200
    assert "leaver@acme.example.com was removed" in _post(
        admin_client, f"/account/members/{member.id}/remove"
    )
    for device in (laptop, phone):
        response = device.get("/dashboard")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in")
    assert db.session.query(LoginSession).filter_by(membership_id=member.id).count() == 0


def test_an_admin_may_leave_when_another_admin_remains(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    leaving = factory.member(account, Role.ADMIN)
    factory.member(account, Role.ADMIN)
    client = signed_in(leaving)
    response = client.post(
        f"/account/members/{leaving.id}/remove",
        data={"csrf_token": csrf_token(client, "/account/members"), "confirmed": "yes"},
    )
    assert response.headers["Location"] == "/"
    assert client.get("/dashboard").status_code == 302


def test_removal_steps_of_other_domains_run_first_in_the_same_transaction(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    seen: list[tuple[int, int]] = []

    def step(session: object, membership: Membership) -> None:
        still_there = db.session.scalar(select(Membership.id).where(Membership.id == membership.id))
        seen.append((membership.id, still_there or 0))

    services.remove_member(db.session(), member, before_removal=[step])
    assert seen == [(member.id, member.id)]
    assert db.session.get(Membership, member.id) is None


def test_an_admin_demoted_while_removal_steps_ran_keeps_the_removed_admin(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    leaving, staying = factory.member(account, Role.ADMIN), factory.member(account, Role.ADMIN)
    leaving_id, staying_id = leaving.id, staying.id

    def meanwhile(session: object, membership: Membership) -> None:
        # Like a final sync, the step commits; another admin's change lands in that gap.
        db.session.commit()
        with Session(db.engine) as other:
            services.change_role(other, other.get_one(Membership, staying_id), Role.MEMBER)

    with pytest.raises(services.MembershipError, match="last admin cannot be removed"):
        services.remove_member(db.session(), leaving, before_removal=[meanwhile])
    db.session.rollback()
    assert db.session.get_one(Membership, leaving_id).role is Role.ADMIN, "the account still has an admin"


def test_a_failing_removal_step_keeps_the_member(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    member_id = member.id
    client = signed_in(member)

    def refuse(session: object, membership: Membership) -> None:
        raise RuntimeError("Google could not be reached")

    try:
        services.remove_member(db.session(), member, before_removal=[refuse])
    except RuntimeError:
        db.session.rollback()
    assert db.session.get(Membership, member_id) is not None
    assert client.get("/dashboard").status_code == 200


def _demote(session: Session, membership_id: int, outcome: list[str]) -> None:
    try:
        services.change_role(session, session.get_one(Membership, membership_id), Role.MEMBER)
        outcome.append("demoted")
    except services.MembershipError as exc:
        outcome.append(str(exc))


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    app: Flask, factory: Factory, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite admits one writer at a time anyway")
    account = factory.account()
    first_admin, second_admin = factory.member(account, Role.ADMIN), factory.member(account, Role.ADMIN)
    outcome: list[str] = []
    with Session(db.engine) as first, Session(db.engine) as second:
        demoting_first = first.get_one(Membership, first_admin.id)
        services.lock_memberships(first, account.id)

        def demote_second() -> None:
            with app.app_context():
                _demote(second, second_admin.id, outcome)

        worker = threading.Thread(target=demote_second)
        worker.start()
        worker.join(timeout=0.5)
        assert worker.is_alive(), f"the second demotion did not wait for the first: {outcome}"
        demoting_first.role = Role.MEMBER
        first.commit()
        worker.join(timeout=10)
    assert outcome == [
        "The account's last admin cannot be given another role; make someone else admin first."
    ]
    db.session.expire_all()
    assert db.session.get_one(Membership, second_admin.id).role is Role.ADMIN


def test_an_admin_who_steps_down_lands_on_the_dashboard(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    me = factory.member(account, Role.ADMIN)
    factory.member(account, Role.ADMIN)
    client = signed_in(me)
    response = client.post(
        f"/account/members/{me.id}/role",
        data={"csrf_token": csrf_token(client, "/account/members"), "role": "member"},
    )
    assert response.headers["Location"] == "/dashboard"
    assert "is now member" in client.get("/dashboard").get_data(as_text=True)
    assert client.get("/account/members").status_code == 403
