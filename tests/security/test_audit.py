"""The account audit log: written with each administrative change, shown to admins and reviewers, verified."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.crm.models import ApiKey, ContactList
from app.extensions import db
from app.security.audit import AuditAction, entries_of, record, verify_audit
from app.security.models import AuditEntry
from tests.auth.flows import csrf_token
from tests.conftest import Factory
from tests.security.helpers import post, tampering_audit

SignIn = Callable[[Membership], FlaskClient]


def _actions(account_id: int) -> list[str]:
    return [entry.action for entry in reversed(entries_of(db.session, account_id))]


def test_role_changes_invitations_and_removals_are_recorded_with_who_did_them(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    client = signed_in(admin)
    page = "/account/members"
    assert post(client, f"/account/members/{member.id}/role", {"role": "reviewer"}, page).status_code == 302
    assert (
        post(client, "/account/invitations", {"email": "new@example.com", "role": "member"}, page).status_code
        == 302
    )
    entries = list(reversed(entries_of(db.session, account.id)))
    assert [e.action for e in entries] == [AuditAction.ROLE_CHANGED, AuditAction.MEMBER_INVITED]
    assert entries[0].actor == f"user:{admin.user_id}"
    assert '"from":"member"' in entries[0].detail
    assert '"to":"reviewer"' in entries[0].detail
    assert "new@example.com" not in entries[1].detail


def test_a_refused_change_records_nothing(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    post(client, f"/account/members/{admin.id}/role", {"role": "member"}, "/account/members")
    assert db.session.get(Membership, admin.id).role is Role.ADMIN  # type: ignore[union-attr]
    assert _actions(account.id) == []


def test_api_keys_and_list_access_are_recorded(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    contact_list = ContactList(account_id=account.id, crm_id="l-1", name="Clients")
    db.session.add(contact_list)
    db.session.commit()
    client = signed_in(admin)
    token = "f" * 22
    post(client, "/admin/crm/api-keys", {"name": "Zapier", "form_token": token}, "/admin/crm/api-keys")
    key = db.session.scalars(select(ApiKey)).one()
    post(client, f"/admin/crm/api-keys/{key.id}/revoke", {"confirmed": "yes"}, "/admin/crm/api-keys")
    post(
        client, f"/admin/crm/lists/{contact_list.id}/access", {"membership_id": str(member.id)}, "/admin/crm"
    )
    post(
        client,
        f"/admin/crm/lists/{contact_list.id}/access/{member.id}/withdraw",
        {"confirmed": "yes"},
        "/admin/crm",
    )
    assert _actions(account.id) == [
        AuditAction.API_KEY_CREATED,
        AuditAction.API_KEY_REVOKED,
        AuditAction.LIST_ACCESS_GRANTED,
        AuditAction.LIST_ACCESS_WITHDRAWN,
    ]


def test_admins_and_reviewers_see_the_log_members_do_not(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN, email="ada@example.test")
    reviewer = factory.member(account, Role.REVIEWER)
    member = factory.member(account, Role.MEMBER)
    other = factory.account()
    record(db.session, account.id, AuditAction.ROLE_CHANGED, actor_user_id=admin.user_id, detail={"to": "x"})
    record(db.session, other.id, AuditAction.API_KEY_CREATED, actor_user_id=None)
    db.session.commit()
    for viewer in (admin, reviewer):
        page = signed_in(viewer).get("/security/audit")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "role changed" in text
        assert "member.role_changed" not in text, "the action is shown in words"
        assert "ada@example.test" in text
        assert "API key created" not in text, "another account's entries never show"
    assert signed_in(member).get("/security/audit").status_code == 403


def test_every_action_and_outcome_is_shown_in_words_in_the_reader_language(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    for action in AuditAction:
        record(db.session, account.id, action, actor_user_id=admin.user_id, outcome="too_many_wrong_codes")
    db.session.commit()
    client = signed_in(admin)
    client.post("/language", data={"language": "uk", "csrf_token": csrf_token(client, "/dashboard")})
    text = client.get("/security/audit").get_data(as_text=True)
    for action in AuditAction:
        assert action.value not in text, f"{action.value} is shown as stored"
    assert "роль змінено" in text
    assert "забагато неправильних кодів" in text


def test_each_account_has_its_own_chain_and_it_verifies(factory: Factory) -> None:
    first, second = factory.account(), factory.account()
    for _ in range(3):
        record(db.session, first.id, AuditAction.POLICY_CHANGED, actor_user_id=1)
    record(db.session, second.id, AuditAction.POLICY_CHANGED, actor_user_id=None)
    db.session.commit()
    result = verify_audit(db.session)
    assert result.ok
    assert {(r.chain, r.entries) for r in result.chains} == {
        (f"audit:{first.id}", 3),
        (f"audit:{second.id}", 1),
    }
    seqs = [e.seq for e in entries_of(db.session, first.id)]
    assert seqs == [3, 2, 1]


def test_the_table_refuses_updates(factory: Factory) -> None:
    account = factory.account()
    record(db.session, account.id, AuditAction.POLICY_CHANGED, actor_user_id=1)
    db.session.commit()
    with pytest.raises(sa.exc.DatabaseError), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE account_audit_entry SET outcome = 'x'"))


def _run_verify(app: Flask) -> tuple[int, str]:
    # No signing key is trusted here, so the ledger's best verdict is INTEGRITY ONLY (exit 2);
    # --integrity-only turns that into 0 and leaves the exit code to the audit log's verdict.
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--integrity-only"])
    return result.exit_code, result.output


def test_ledger_verify_checks_the_audit_chain_and_names_an_edit(app: Flask, factory: Factory) -> None:
    account = factory.account()
    for _ in range(3):
        record(db.session, account.id, AuditAction.ROLE_CHANGED, actor_user_id=7, detail={"to": "admin"})
    db.session.commit()
    code, output = _run_verify(app)
    assert code == 0, output
    assert "account audit log verification OK: 1 chains, 3 entries" in output
    with tampering_audit() as conn:
        conn.execute(sa.text('UPDATE account_audit_entry SET detail = \'{"to":"member"}\' WHERE seq = 2'))
    code, output = _run_verify(app)
    assert code == 1
    assert f"PROBLEM chain audit:{account.id} seq 2: content does not match its hash (entry edited)" in output


def test_ledger_verify_notices_the_newest_entries_removed(app: Flask, factory: Factory) -> None:
    account = factory.account()
    for _ in range(3):
        record(db.session, account.id, AuditAction.ROLE_CHANGED, actor_user_id=7)
    db.session.commit()
    with tampering_audit() as conn:
        conn.execute(sa.text("DELETE FROM account_audit_entry WHERE seq = 3"))
    code, output = _run_verify(app)
    assert code == 1
    assert "entries removed" in output
    assert db.session.scalars(select(AuditEntry)).all()
