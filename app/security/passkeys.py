"""Passkeys (WebAuthn, through the ``webauthn`` package) as a second factor after Google sign-in.

A membership may register several named passkeys; any one of them, like the authenticator
app, satisfies the account's "second factor required" rule. Each ceremony's challenge is kept
server-side for the sign-in session that asked for it: one per purpose (a new one replaces
the last), taken out of the table by its first use whatever the outcome, and stale after
:data:`CHALLENGE_LIFETIME`. The relying party's id and origin come from the installation's
public URL, so a credential made for this installation is refused by any other.

Nothing stored here is secret: a public key only checks signatures and the credential id is
handed to every browser asked to sign. That is why, unlike the TOTP secret, no passkey data
is sealed by the token vault, and ``groupsync keys rotate`` has nothing of it to re-encrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.accounts.models import LoginSession, Membership
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import lazy_gettext as _l
from app.security import audit
from app.security.audit import AuditAction
from app.security.models import Passkey, PasskeyChallenge, RecoveryCode
from app.security.services import (
    SecurityError,
    Verified,
    confirmed_factor,
    count_wrong_attempt,
    has_second_factor,
    mark_verified,
    new_recovery_codes,
    policy_of,
    second_factor_given,
)

CHALLENGE_LIFETIME = timedelta(minutes=5)
CEREMONY_TIMEOUT_MS = 120_000
"""How long the browser waits for the person; shorter than the challenge's life."""
NAME_LENGTH = 60


class Purpose(StrEnum):
    REGISTER = "register"
    SIGN_IN = "sign_in"
    CONFIRM = "confirm"
    """An admin confirms a change of the address and hours rules."""


@dataclass(frozen=True)
class RelyingParty:
    """This installation as WebAuthn names it: the public URL's host is the id, its origin the origin."""

    id: str
    name: str
    origin: str
    handle_key: bytes
    """Keys the opaque user handle given to authenticators, so it names no one."""

    @classmethod
    def for_public_url(cls, public_url: str, handle_key: bytes, name: str = "GroupSync") -> RelyingParty:
        parts = urlsplit(public_url)
        if not parts.hostname:
            raise ValueError(f"the public URL {public_url!r} has no host")
        return cls(parts.hostname, name, f"{parts.scheme}://{parts.netloc}", handle_key)

    def user_handle(self, membership: Membership) -> bytes:
        message = f"groupsync/passkey-user-handle/membership:{membership.id}".encode()
        return hmac.new(self.handle_key, message, hashlib.sha256).digest()


def passkeys_of(session: DbSession, membership_id: int) -> list[Passkey]:
    return list(
        session.scalars(select(Passkey).where(Passkey.membership_id == membership_id).order_by(Passkey.id))
    )


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=p.credential_id,
            transports=[AuthenticatorTransport(t) for t in p.transports.split(",") if t in known] or None,
        )
        for p in passkeys
    ]


def _new_challenge(
    work: Session, login: LoginSession, purpose: Purpose, challenge: bytes, now: datetime
) -> None:
    """Keep ``challenge`` as the session's only one of ``purpose``; stale ones of the session go too."""
    work.execute(
        delete(PasskeyChallenge).where(
            PasskeyChallenge.login_session_id == login.id,
            (PasskeyChallenge.purpose == purpose.value) | (PasskeyChallenge.expires_at < now),
        )
    )
    work.add(
        PasskeyChallenge(
            login_session_id=login.id,
            purpose=purpose.value,
            challenge=challenge,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )


def take_challenge(session: DbSession, login: LoginSession, purpose: Purpose, now: datetime) -> bytes | None:
    """Remove the session's challenge of ``purpose`` in its own transaction; ``None`` if none is live.

    Committed before the answer is checked, so a wrong answer cannot leave it for another try.
    """
    with unit_of_work(session) as work:
        row = work.scalar(
            select(PasskeyChallenge).where(
                PasskeyChallenge.login_session_id == login.id, PasskeyChallenge.purpose == purpose.value
            )
        )
        if row is None:
            return None
        work.delete(row)
        return row.challenge if row.expires_at >= now else None


def _may_add(work: Session, membership: Membership, login: LoginSession) -> None:
    if has_second_factor(work, membership.id) and not second_factor_given(work, login):
        raise SecurityError(_l("Confirm your current second factor before adding a passkey."))


def registration_options(
    session: DbSession,
    rp: RelyingParty,
    membership: Membership,
    login: LoginSession,
    *,
    now: datetime | None = None,
) -> str:
    """The options JSON for ``navigator.credentials.create``; the challenge is kept for this session."""
    moment = now or utcnow()
    with unit_of_work(session) as work:
        _may_add(work, membership, login)
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_id=rp.user_handle(membership),
            user_name=membership.user.email,
            user_display_name=f"{membership.user.name or membership.user.email} ({membership.account.name})",
            timeout=CEREMONY_TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=_descriptors(passkeys_of(work, membership.id)),
        )
        _new_challenge(work, login, Purpose.REGISTER, options.challenge, moment)
    return options_to_json(options)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise SecurityError(_l("Give the passkey a name, such as the device it is on."))
    if len(cleaned) > NAME_LENGTH:
        raise SecurityError(
            _l("A passkey's name may be at most %(length)s characters long.", length=NAME_LENGTH)
        )
    return cleaned


def _transports(credential: str) -> str:
    try:
        listed = json.loads(credential).get("response", {}).get("transports", [])
    except (ValueError, AttributeError):
        return ""
    known = {t.value for t in AuthenticatorTransport}
    return ",".join(t for t in listed if isinstance(t, str) and t in known)[:120]


def register(
    session: DbSession,
    rp: RelyingParty,
    membership: Membership,
    login: LoginSession,
    *,
    name: str,
    credential: str,
    now: datetime | None = None,
) -> list[str] | None:
    """Verify the browser's attestation and keep the passkey.

    Returns fresh recovery codes (shown once) when this is the person's first second factor,
    since a lost passkey then leaves them a way in; otherwise ``None``.
    """
    moment = now or utcnow()
    cleaned = _clean_name(name)
    challenge = take_challenge(session, login, Purpose.REGISTER, moment)
    if challenge is None:
        raise SecurityError(_l("The passkey request expired. Please try again."))
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise SecurityError(_l("The browser's answer for the new passkey could not be verified.")) from None
    with unit_of_work(session) as work:
        _may_add(work, membership, login)
        if work.scalar(
            select(Passkey.id).where(
                Passkey.membership_id == membership.id, Passkey.credential_id == verified.credential_id
            )
        ):
            raise SecurityError(_l("This passkey is already registered."))
        first = not has_second_factor(work, membership.id)
        codes_left = work.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.membership_id == membership.id, RecoveryCode.used_at.is_(None)
            )
        )
        passkey = Passkey(
            membership_id=membership.id,
            name=cleaned,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=_transports(credential),
            created_at=moment,
        )
        work.add(passkey)
        work.flush()
        codes = new_recovery_codes(work, membership.id) if first and not codes_left else None
        mark_verified(work, login, moment)
        audit.record(
            work,
            membership.account_id,
            AuditAction.FACTOR_ENROLLED,
            actor_user_id=membership.user_id,
            # The insert-only log outlives the passkey: it gets the id, not the name the person typed.
            detail={"kind": "passkey", "passkey_id": passkey.id},
            now=moment,
        )
    return codes


def authentication_options(
    session: DbSession,
    rp: RelyingParty,
    membership: Membership,
    login: LoginSession,
    purpose: Purpose,
    *,
    now: datetime | None = None,
) -> str:
    """The options JSON for ``navigator.credentials.get``, offering the member's own passkeys only."""
    moment = now or utcnow()
    with unit_of_work(session) as work:
        passkeys = passkeys_of(work, membership.id)
        if not passkeys:
            raise SecurityError(_l("You have no passkey yet."))
        options = generate_authentication_options(
            rp_id=rp.id,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=_descriptors(passkeys),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        _new_challenge(work, login, purpose, options.challenge, moment)
    return options_to_json(options)


def check_assertion(
    work: Session,
    rp: RelyingParty,
    membership: Membership,
    *,
    challenge: bytes,
    credential: str,
    now: datetime,
) -> Passkey | None:
    """The member's passkey that signed ``challenge`` (its counter and last use updated), or ``None``."""
    try:
        raw_id = json.loads(credential)["rawId"]
        passkey = work.scalar(
            select(Passkey).where(
                Passkey.membership_id == membership.id,
                Passkey.credential_id == _base64url_bytes(raw_id),
            )
        )
        if passkey is None:
            return None
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return None
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, now
    return passkey


def _base64url_bytes(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("rawId must be base64url text")
    return base64url_to_bytes(value)


def sign_in(
    session: DbSession,
    rp: RelyingParty,
    membership: Membership,
    login: LoginSession,
    credential: str,
    *,
    now: datetime | None = None,
) -> Verified:
    """Give the session its second factor with a passkey; a wrong answer counts like a wrong code."""
    moment = now or utcnow()
    challenge = take_challenge(session, login, Purpose.SIGN_IN, moment)
    with unit_of_work(session) as work:
        if challenge is not None and check_assertion(
            work, rp, membership, challenge=challenge, credential=credential, now=moment
        ):
            mark_verified(work, login, moment)
            return Verified.PASSKEY
        return count_wrong_attempt(work, membership, login)


def remove(session: DbSession, membership: Membership, passkey_id: int) -> str | None:
    """Delete one of the member's own passkeys; its name, or ``None`` when it is not theirs.

    The last second factor is kept while the account requires one of this member.
    """
    with unit_of_work(session) as work:
        passkey = work.get(Passkey, passkey_id)
        if passkey is None or passkey.membership_id != membership.id:
            return None
        others = len(passkeys_of(work, membership.id)) - 1
        if (
            not others
            and confirmed_factor(work, membership.id) is None
            and policy_of(work, membership.account_id).requires_factor(membership.role)
        ):
            raise SecurityError(
                _l(
                    "This account requires a second factor of you: add another passkey or an authenticator "
                    "app before removing this one."
                )
            )
        name = passkey.name
        work.delete(passkey)
        audit.record(
            work,
            membership.account_id,
            AuditAction.FACTOR_REMOVED,
            actor_user_id=membership.user_id,
            detail={"kind": "passkey", "passkey_id": passkey_id},
        )
    return name
