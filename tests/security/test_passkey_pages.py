"""Passkeys through the pages: add, sign in with one, remove; policies, admin reset, access rules."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role
from app.config import current_settings
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import Passkey, PasskeyChallenge, RecoveryCode, SecondFactorRule, SecurityPolicy
from tests.conftest import Factory
from tests.security.helpers import (
    add_passkey,
    code_at,
    enrol,
    passkey_options,
    post,
    sign_in_with_passkey,
)
from tests.security.soft_authenticator import SoftAuthenticator

SignIn = Callable[[Membership], FlaskClient]


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(current_settings().public_url)


def _actions(account_id: int) -> list[str]:
    return [entry.action for entry in reversed(entries_of(db.session, account_id))]


def _require(account_id: int, rule: SecondFactorRule) -> None:
    db.session.add(
        SecurityPolicy(account_id=account_id, second_factor=rule.value, idle_minutes=720, absolute_hours=336)
    )
    db.session.commit()


def test_the_first_passkey_is_stored_named_with_recovery_codes(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    options = json.loads(passkey_options(client, "register").get_data(as_text=True))
    assert options["rp"]["id"] == "127.0.0.1"
    assert member.user.email not in json.dumps(options["user"]["id"]), "the user handle names no one"
    shown = add_passkey(client, device, "  Work   laptop ")
    assert shown.status_code == 200
    assert shown.get_data(as_text=True).count("<li><code>") == 10
    passkey = db.session.scalars(select(Passkey)).one()
    assert (passkey.name, passkey.credential_id, passkey.transports) == (
        "Work laptop",
        device.credential_id,
        "internal",
    )
    assert db.session.scalars(select(PasskeyChallenge)).all() == [], "the challenge was used up"
    entry = entries_of(db.session, member.account_id)[0]
    assert entry.action == AuditAction.FACTOR_ENROLLED
    assert json.loads(entry.detail) == {"kind": "passkey", "passkey_id": passkey.id}
    overview = client.get("/security/").get_data(as_text=True)
    assert "Work laptop" in overview
    assert "passkeys.js" in overview


def test_a_second_passkey_is_added_without_new_codes_and_the_first_is_excluded(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    add_passkey(client, device, "Phone")
    options = json.loads(passkey_options(client, "register").get_data(as_text=True))
    assert [c["id"] for c in options["excludeCredentials"]] == [device.raw_id]
    again = add_passkey(client, SoftAuthenticator(current_settings().public_url), "Key")
    assert again.status_code == 302
    assert again.headers["Location"] == "/security/"
    assert sorted(p.name for p in db.session.scalars(select(Passkey))) == ["Key", "Phone"]
    assert len(db.session.scalars(select(RecoveryCode)).all()) == 10


def test_a_passkey_answers_the_second_factor_at_sign_in(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _require(account.id, SecondFactorRule.EVERYONE)
    first = signed_in(member)
    assert first.get("/dashboard").headers["Location"].startswith("/security/enrol")
    add_passkey(first, device)
    assert first.get("/dashboard").status_code == 200, "registering the passkey gave this session its factor"

    fresh = signed_in(member)
    assert fresh.get("/dashboard").headers["Location"].startswith("/security/verify"), "a passkey counts"
    page = fresh.get("/security/verify?next=/dashboard").get_data(as_text=True)
    assert 'data-testid="passkey-sign-in"' in page
    answer = sign_in_with_passkey(fresh, device)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard"
    assert fresh.get("/dashboard").status_code == 200
    passkey = db.session.scalars(select(Passkey)).one()
    assert passkey.sign_count == 1
    assert passkey.last_used_at is not None


def test_a_wrong_answer_is_refused_and_its_challenge_is_gone(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    add_passkey(signed_in(member), device)
    client = signed_in(member)
    options = passkey_options(client, "sign_in").get_data(as_text=True)
    elsewhere = device.sign(options, origin="https://phishing.example")
    refused = post(client, "/security/passkeys/sign-in", {"credential": elsewhere})
    assert refused.status_code == 303  # a reload must not send the answer again
    assert "The passkey could not be checked" in client.get(refused.headers["Location"]).get_data(
        as_text=True
    )
    right = device.sign(options)
    replay = post(client, "/security/passkeys/sign-in", {"credential": right})
    assert "The passkey could not be checked" in client.get(replay.headers["Location"]).get_data(
        as_text=True
    ), "one challenge, one try"
    assert client.get("/dashboard").status_code == 302


def test_another_members_passkey_does_not_sign_in(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    member, other = factory.member(account, Role.MEMBER), factory.member(account, Role.MEMBER)
    add_passkey(signed_in(member), device)
    theirs = SoftAuthenticator(current_settings().public_url)
    add_passkey(signed_in(other), theirs)
    client = signed_in(member)
    options = passkey_options(client, "sign_in").get_data(as_text=True)
    answer = post(client, "/security/passkeys/sign-in", {"credential": theirs.sign(options)})
    assert answer.headers["Location"].startswith("/security/verify")
    assert client.get("/dashboard").status_code == 302


def test_five_wrong_passkey_answers_end_the_session(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    add_passkey(signed_in(member), device)
    client = signed_in(member)
    for _ in range(4):
        post(client, "/security/passkeys/sign-in", {"credential": "{}"})
    last = post(client, "/security/passkeys/sign-in", {"credential": "not json"})
    assert last.headers["Location"] == "/sign-in"
    assert _actions(member.account_id)[-1] == AuditAction.SIGN_IN_REFUSED


def test_with_a_factor_set_up_a_new_one_needs_it_first(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    add_passkey(signed_in(member), device)
    fresh = signed_in(member)
    refused = passkey_options(fresh, "register")
    assert refused.status_code == 409
    assert "Confirm your current second factor" in refused.get_json()["error"]
    # Nor may an authenticator app be swapped in before the passkey is given.
    page = post(fresh, "/security/enrol").get_data(as_text=True)
    factor_id = page.split('name="factor_id" value="')[1].split('"')[0]
    confirm = post(fresh, "/security/enrol/confirm", {"factor_id": factor_id, "code": "000000"})
    assert confirm.status_code == 302
    assert fresh.get("/dashboard").status_code == 302


def test_totp_cannot_be_replaced_from_a_session_without_the_factor(
    factory: Factory, signed_in: SignIn
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    enrol(signed_in(member))
    fresh = signed_in(member)
    page = post(fresh, "/security/enrol").get_data(as_text=True)
    secret = page.split('data-testid="totp-secret">')[1].split("<")[0]
    factor_id = page.split('name="factor_id" value="')[1].split('"')[0]
    from app.db import utcnow

    answer = post(
        fresh, "/security/enrol/confirm", {"factor_id": factor_id, "code": code_at(secret, utcnow())}
    )
    assert answer.status_code == 302
    assert fresh.get("/dashboard").status_code == 302, (
        "a Google sign-in alone does not pass the second factor"
    )


def test_removing_a_passkey_is_recorded_and_only_ones_own(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    member, other = factory.member(account, Role.MEMBER), factory.member(account, Role.ADMIN)
    client = signed_in(member)
    add_passkey(client, device, "Phone")
    passkey_id = db.session.scalars(select(Passkey.id)).one()
    assert post(signed_in(other), f"/security/passkeys/{passkey_id}/remove").status_code == 404
    done = post(client, f"/security/passkeys/{passkey_id}/remove")
    assert done.headers["Location"] == "/security/"
    assert db.session.scalars(select(Passkey)).all() == []
    entry = entries_of(db.session, account.id)[0]
    assert entry.action == AuditAction.FACTOR_REMOVED
    assert json.loads(entry.detail) == {"kind": "passkey", "passkey_id": passkey_id}


def test_the_last_factor_stays_while_the_account_requires_one(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    client = signed_in(member)
    add_passkey(client, device)
    _require(account.id, SecondFactorRule.EVERYONE)
    passkey = db.session.scalars(select(Passkey)).one()
    post(client, f"/security/passkeys/{passkey.id}/remove")
    assert len(db.session.scalars(select(Passkey)).all()) == 1
    assert "add another passkey or an authenticator app" in client.get("/security/").get_data(as_text=True)


def test_an_admin_reset_removes_the_passkeys_too(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    admin, member = factory.member(account, Role.ADMIN), factory.member(account, Role.MEMBER)
    add_passkey(signed_in(member), device)
    admin_client = signed_in(admin)
    assert "Reset second factor" in admin_client.get("/security/admin").get_data(as_text=True)
    post(admin_client, f"/security/admin/members/{member.id}/reset", page="/security/admin")
    assert db.session.scalars(select(Passkey)).all() == []
    assert db.session.scalars(select(RecoveryCode)).all() == []
    entry = entries_of(db.session, account.id)[0]
    assert entry.action == AuditAction.FACTOR_RESET
    assert json.loads(entry.detail) == {"member_user_id": member.user_id, "passkeys_removed": 1}


RULES = {
    "time_zone": "UTC",
    "web_networks": "127.0.0.0/8",
    "web_hours": "",
    "api_networks": "",
    "api_hours": "",
}


def test_an_admin_with_only_passkeys_confirms_access_rules_with_one(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    add_passkey(client, device)
    page = client.get("/security/admin").get_data(as_text=True)
    assert 'data-testid="access-passkey"' in page
    without = post(client, "/security/admin/access", RULES, page="/security/admin")
    assert without.status_code == 302
    assert db.session.get(SecurityPolicy, account.id) is None
    options = passkey_options(client, "confirm").get_data(as_text=True)
    signed = post(
        client, "/security/admin/access", {**RULES, "credential": device.sign(options)}, "/security/admin"
    )
    assert signed.status_code == 302
    policy = db.session.get(SecurityPolicy, account.id)
    assert policy is not None
    assert policy.web_networks == "127.0.0.0/8"
    assert _actions(account.id)[-1] == AuditAction.ACCESS_RULES_CHANGED
    replay = post(
        client,
        "/security/admin/access",
        {**RULES, "web_networks": "", "credential": device.sign(options)},
        "/security/admin",
    )
    assert replay.status_code == 302
    assert db.session.get(SecurityPolicy, account.id).web_networks == "127.0.0.0/8", "the challenge was used"


def test_only_admins_get_a_confirmation_challenge(
    factory: Factory, signed_in: SignIn, device: SoftAuthenticator
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    add_passkey(client, device)
    assert passkey_options(client, "confirm").status_code == 403
    assert passkey_options(client, "nonsense").status_code == 400
