"""TOTP second factor: enrolment, sign-in, replay, recovery codes, lock-out, requirement, admin reset."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import LoginSession, Membership, Role
from app.db import utcnow
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import SecondFactor, SecondFactorRule, SecurityPolicy
from tests.conftest import Factory
from tests.security.helpers import code_at, enrol, post

SignIn = Callable[[Membership], FlaskClient]


def _actions(account_id: int) -> list[str]:
    return [entry.action for entry in reversed(entries_of(db.session, account_id))]


def _require(account_id: int, rule: SecondFactorRule) -> None:
    db.session.add(
        SecurityPolicy(account_id=account_id, second_factor=rule.value, idle_minutes=720, absolute_hours=336)
    )
    db.session.commit()


def test_enrolled_member_must_give_a_code_after_google_sign_in(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    secret, _codes = enrol(signed_in(member))
    fresh = signed_in(member)
    answer = fresh.get("/dashboard")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/security/verify?next=/dashboard")
    wrong = post(fresh, "/security/verify", {"code": "000000", "next": "/dashboard"}, "/security/verify")
    assert wrong.status_code == 303
    assert "That code is not right" in fresh.get(wrong.headers["Location"]).get_data(as_text=True)
    assert fresh.get("/dashboard").status_code == 302
    right = post(
        fresh,
        "/security/verify",
        {"code": code_at(secret, utcnow()), "next": "/dashboard"},
        "/security/verify",
    )
    assert right.status_code == 302
    assert right.headers["Location"] == "/dashboard"
    assert fresh.get("/dashboard").status_code == 200
    assert _actions(member.account_id) == [AuditAction.FACTOR_ENROLLED]


def test_the_secret_is_sealed_not_stored(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    secret, _ = enrol(signed_in(member))
    factor = db.session.scalars(select(SecondFactor)).one()
    assert secret.encode() not in factor.secret_ciphertext
    assert factor.confirmed_at is not None


def test_a_code_is_accepted_once(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    # Each code taken when it is sent (a loaded machine may take longer than a step in between).
    secret, _ = enrol(signed_in(member))
    code = code_at(secret, utcnow())
    first, second = signed_in(member), signed_in(member)
    post(first, "/security/verify", {"code": code}, "/security/verify")
    assert first.get("/dashboard").status_code == 200
    again = post(second, "/security/verify", {"code": code}, "/security/verify")
    assert "That code is not right" in second.get(again.headers["Location"]).get_data(as_text=True)
    assert second.get("/dashboard").status_code == 302


def test_a_recovery_code_works_once_and_is_recorded(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    _, codes = enrol(signed_in(member))
    first = signed_in(member)
    used = post(first, "/security/verify", {"code": codes[3].upper()}, "/security/verify")
    assert used.status_code == 302
    dashboard = first.get("/dashboard")
    assert dashboard.status_code == 200
    assert "You used a recovery code; 9 left." in dashboard.get_data(as_text=True)
    second = signed_in(member)
    post(second, "/security/verify", {"code": codes[3]}, "/security/verify")
    assert second.get("/dashboard").status_code == 302
    assert AuditAction.RECOVERY_CODE_USED in _actions(member.account_id)


def test_five_wrong_codes_end_the_session(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    enrol(signed_in(member))
    client = signed_in(member)
    sessions_before = len(db.session.scalars(select(LoginSession)).all())
    for _ in range(4):
        post(client, "/security/verify", {"code": "123456"}, "/security/verify")
    last = post(client, "/security/verify", {"code": "123456"}, "/security/verify")
    assert last.status_code == 302
    assert last.headers["Location"].startswith("/sign-in")
    assert len(db.session.scalars(select(LoginSession)).all()) == sessions_before - 1
    entry = entries_of(db.session, member.account_id)[0]
    assert entry.action == AuditAction.SIGN_IN_REFUSED
    assert entry.outcome == "too_many_wrong_codes"


def test_an_account_can_require_a_factor_of_admins(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    _require(account.id, SecondFactorRule.ADMINS)
    admin_client = signed_in(admin)
    answer = admin_client.get("/account/members")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/security/enrol")
    assert "requires a second factor" in admin_client.get("/security/enrol").get_data(as_text=True)
    assert signed_in(member).get("/dashboard").status_code == 200
    enrol(admin_client)
    assert admin_client.get("/account/members").status_code == 200


def test_json_clients_are_told_a_second_factor_is_needed(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _require(account.id, SecondFactorRule.EVERYONE)
    answer = signed_in(member).get("/dashboard", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "second_factor_required"


def test_another_admin_resets_a_lost_factor_and_it_is_recorded(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    member = factory.member(account, Role.MEMBER)
    member_client = signed_in(member)
    enrol(member_client)
    admin_client = signed_in(admin)
    page = admin_client.get("/security/admin").get_data(as_text=True)
    assert f'data-testid="member-factor-{member.id}"' in page
    done = post(admin_client, f"/security/admin/members/{member.id}/reset", page="/security/admin")
    assert done.status_code == 302
    assert db.session.scalars(select(SecondFactor)).all() == []
    assert member_client.get("/dashboard").status_code == 302, "the member's sessions ended"
    entry = entries_of(db.session, account.id)[0]
    assert entry.action == AuditAction.FACTOR_RESET
    assert entry.actor == f"user:{admin.user_id}"
    assert f'"member_user_id":{member.user_id}' in entry.detail
    assert signed_in(member).get("/dashboard").status_code == 200, "no factor left to ask for"


def test_an_admin_cannot_reset_their_own_factor(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    enrol(client)
    answer = post(client, f"/security/admin/members/{admin.id}/reset", page="/security/admin")
    assert answer.status_code == 302
    assert len(db.session.scalars(select(SecondFactor)).all()) == 1
    assert AuditAction.FACTOR_RESET not in _actions(account.id)


def test_another_accounts_admin_cannot_reset(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    enrol(signed_in(member))
    stranger = signed_in(factory.member(factory.account(), Role.ADMIN))
    answer = post(stranger, f"/security/admin/members/{member.id}/reset", page="/security/admin")
    assert answer.status_code == 404
    assert len(db.session.scalars(select(SecondFactor)).all()) == 1


def test_the_policy_form_names_what_is_wrong_and_records_changes(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    bad = {"second_factor": "sometimes", "idle_minutes": "60", "absolute_hours": "8"}
    post(client, "/security/admin/policy", bad, "/security/admin")
    assert "Second factor requirement must be one of off, admins, everyone" in client.get(
        "/security/admin"
    ).get_data(as_text=True)
    post(
        client,
        "/security/admin/policy",
        {**bad, "second_factor": "off", "idle_minutes": "2"},
        "/security/admin",
    )
    assert "Idle timeout (minutes) must be a whole number from 5 to 720" in client.get(
        "/security/admin"
    ).get_data(as_text=True)
    assert db.session.get(SecurityPolicy, account.id) is None
    post(client, "/security/admin/policy", {**bad, "second_factor": "off"}, "/security/admin")
    policy = db.session.get(SecurityPolicy, account.id)
    assert policy is not None
    assert (policy.idle_minutes, policy.absolute_hours) == (60, 8)
    assert _actions(account.id) == [AuditAction.POLICY_CHANGED]
    assert signed_in(factory.member(account, Role.MEMBER)).get("/security/admin").status_code == 403
