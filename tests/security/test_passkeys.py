"""The passkey service on its own: relying party, challenge life, attestation and assertion checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import LoginSession, Membership, Role
from app.db import utcnow
from app.extensions import db
from app.security import passkeys
from app.security.models import Passkey, PasskeyChallenge
from app.security.passkeys import Purpose, RelyingParty
from app.security.services import SecurityError, Verified, second_factor_given
from tests.conftest import Factory
from tests.security.soft_authenticator import SoftAuthenticator

SignIn = Callable[[Membership], FlaskClient]
RP = RelyingParty.for_public_url("https://groupsync.example.com", b"handle-key")


def _login(member: Membership, signed_in: SignIn) -> LoginSession:
    signed_in(member)
    return db.session.scalars(
        select(LoginSession).where(LoginSession.membership_id == member.id).order_by(LoginSession.id.desc())
    ).first() or pytest.fail("no sign-in session")


def _registered(member: Membership, login: LoginSession) -> SoftAuthenticator:
    device = SoftAuthenticator(RP.origin)
    options = passkeys.registration_options(db.session, RP, member, login)
    passkeys.register(db.session, RP, member, login, name="Phone", credential=device.register(options))
    return device


def test_the_relying_party_is_the_public_urls_host_and_origin() -> None:
    rp = RelyingParty.for_public_url("https://sync.example.org:8443/base", b"k")
    assert (rp.id, rp.origin) == ("sync.example.org", "https://sync.example.org:8443")
    with pytest.raises(ValueError, match="no host"):
        RelyingParty.for_public_url("not a url", b"k")


def test_user_handles_are_opaque_and_differ_per_membership(factory: Factory) -> None:
    account = factory.account()
    one, two = factory.member(account, Role.MEMBER), factory.member(account, Role.MEMBER)
    assert RP.user_handle(one) != RP.user_handle(two)
    assert RP.user_handle(one) == RP.user_handle(one)
    assert str(one.id).encode() not in RP.user_handle(one)


def test_a_registration_for_another_origin_is_refused_and_uses_the_challenge(
    factory: Factory, signed_in: SignIn
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    device = SoftAuthenticator("https://evil.example", rp_id="evil.example")
    options = passkeys.registration_options(db.session, RP, member, login)
    with pytest.raises(SecurityError, match="could not be verified"):
        passkeys.register(db.session, RP, member, login, name="x", credential=device.register(options))
    with pytest.raises(SecurityError, match="expired"):
        passkeys.register(
            db.session, RP, member, login, name="x", credential=SoftAuthenticator(RP.origin).register(options)
        )
    assert db.session.scalars(select(Passkey)).all() == []


def test_a_challenge_expires(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    device = _registered(member, login)
    asked = utcnow()
    options = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN, now=asked)
    late = asked + passkeys.CHALLENGE_LIFETIME + timedelta(seconds=1)
    outcome = passkeys.sign_in(db.session, RP, member, login, device.sign(options), now=late)
    assert outcome is Verified.WRONG
    assert db.session.scalars(select(PasskeyChallenge)).all() == []


def test_a_new_challenge_replaces_the_last_of_its_purpose(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    device = _registered(member, login)
    first = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN)
    second = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN)
    passkeys.authentication_options(db.session, RP, member, login, Purpose.CONFIRM)
    assert len(db.session.scalars(select(PasskeyChallenge)).all()) == 2
    assert passkeys.sign_in(db.session, RP, member, login, device.sign(first)) is Verified.WRONG
    fresh = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN)
    assert passkeys.sign_in(db.session, RP, member, login, device.sign(fresh)) is Verified.PASSKEY
    assert second != fresh
    assert second_factor_given(db.session, login)


def test_a_signature_counter_going_backwards_is_refused(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    device = _registered(member, login)
    options = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN)
    assert passkeys.sign_in(db.session, RP, member, login, device.sign(options)) is Verified.PASSKEY
    options = passkeys.authentication_options(db.session, RP, member, login, Purpose.SIGN_IN)
    clone = device.sign(options, count=False)
    assert passkeys.sign_in(db.session, RP, member, login, clone) is Verified.WRONG
    assert db.session.scalars(select(Passkey.sign_count)).one() == 1


def test_names_are_required_and_short(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    for name, problem in (("   ", "Give the passkey a name"), ("x" * 61, "at most 60")):
        with pytest.raises(SecurityError, match=problem):
            passkeys.register(db.session, RP, member, login, name=name, credential="{}")


def test_the_same_passkey_is_not_registered_twice(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    login = _login(member, signed_in)
    device = _registered(member, login)
    options = passkeys.registration_options(db.session, RP, member, login)
    with pytest.raises(SecurityError, match="already registered"):
        passkeys.register(db.session, RP, member, login, name="Again", credential=device.register(options))


def test_no_options_without_a_passkey(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    with pytest.raises(SecurityError, match="no passkey"):
        passkeys.authentication_options(db.session, RP, member, _login(member, signed_in), Purpose.SIGN_IN)


def test_nothing_of_a_passkey_is_sealed_and_the_vault_rotation_has_nothing_to_do(
    factory: Factory, signed_in: SignIn
) -> None:
    """Public keys are not secrets: the table has no ciphertext or key-id column for rotation to miss."""
    member = factory.member(factory.account(), Role.MEMBER)
    _registered(member, _login(member, signed_in))
    columns = {c.name for c in Passkey.__table__.columns} | {
        c.name for c in PasskeyChallenge.__table__.columns
    }
    assert not [c for c in columns if "cipher" in c or c.endswith("key_id")]
