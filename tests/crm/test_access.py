"""Which lists a member may sync, and how withdrawals reach the sync engine."""

from __future__ import annotations

from flask import Flask

from app.accounts.models import Membership, Role
from app.crm import services
from app.extensions import db
from app.flows.members import remove_member
from tests.conftest import Factory
from tests.google.connecting import settings_of, vault_of


def test_only_granted_live_lists_are_available(app: Flask, factory: Factory) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    other = factory.member(account, Role.MEMBER)
    granted, _ = services.put_list(db.session, account.id, "a", {"name": "A"})
    services.put_list(db.session, account.id, "b", {"name": "B"})
    assert services.lists_available_to(db.session, member) == []
    assert services.grant_access(db.session, granted, member, "user:1")
    assert not services.grant_access(db.session, granted, member, "user:1")
    assert [c.crm_id for c in services.lists_available_to(db.session, member)] == ["a"]
    assert services.lists_available_to(db.session, other) == []
    services.delete_list(db.session, account.id, "a")
    assert services.lists_available_to(db.session, member) == []


def test_a_withdrawn_list_can_be_granted_again(app: Flask, factory: Factory) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    contact_list, _ = services.put_list(db.session, account.id, "a", {"name": "A"})
    services.grant_access(db.session, contact_list, member, "user:1")
    assert services.withdraw_access(db.session, contact_list, member.id, "user:1")
    assert not services.withdraw_access(db.session, contact_list, member.id, "user:1")
    assert services.grant_access(db.session, contact_list, member, "user:1")
    assert [c.crm_id for c in services.lists_available_to(db.session, member)] == ["a"]


def test_a_member_leaving_withdraws_every_list_and_leaves_the_lists_content_as_it_was(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    lists = [services.put_list(db.session, account.id, i, {"name": i})[0] for i in ("a", "b")]
    for contact_list in lists:
        services.grant_access(db.session, contact_list, member, "user:1")
    stamps = [c.content_changed_at for c in lists]
    assert services.withdraw_all_access(db.session, member.id, "user:1") == 2
    db.session.commit()
    assert services.lists_available_to(db.session, member) == []
    for contact_list, stamp in zip(lists, stamps, strict=True):
        db.session.refresh(contact_list)
        # The list's other members' syncs have nothing new to do.
        assert contact_list.content_changed_at == stamp


def test_removing_a_member_from_the_account_leaves_their_lists_content_as_it_was(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    contact_list, _ = services.put_list(db.session, account.id, "a", {"name": "A"})
    services.grant_access(db.session, contact_list, member, "user:1")
    stamp = contact_list.content_changed_at
    remove_member(db.session, member, settings=settings_of(app), vault=vault_of(app))
    db.session.refresh(contact_list)
    assert contact_list.content_changed_at == stamp
    assert db.session.get(Membership, member.id) is None
