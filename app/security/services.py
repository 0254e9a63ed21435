"""Second factor (TOTP, passkeys, recovery codes), per-account session limits and one's sessions.

A second factor belongs to a membership: each account's admins decide whether it is
required there and may reset it for their members. The TOTP secret is sealed by the token
vault; recovery codes are stored as SHA-256 hashes of random 60-bit codes, each used once.
Passkeys (:mod:`app.security.passkeys`) count as a second factor like the authenticator app.
Each function owns its transaction, and every change is written to the account audit log
in that same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.accounts.models import LoginSession, Membership, Role
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import gettext as _
from app.extensions import lazy_gettext as _l
from app.google.vault import Binding, Sealed, TokenPurpose, TokenVault
from app.security import audit
from app.security.access import (
    Channel,
    Rules,
    parse_hours,
    parse_networks,
)
from app.security.audit import AuditAction
from app.security.models import (
    Passkey,
    RecoveryCode,
    SecondFactor,
    SecondFactorRule,
    SecurityPolicy,
    SessionDetail,
)

ISSUER = "GroupSync"
RECOVERY_CODES = 10
MAX_FAILED_ATTEMPTS = 5
"""Wrong codes in one session before it is ended (a fresh Google sign-in is needed)."""

DEFAULT_IDLE_MINUTES = 12 * 60
DEFAULT_ABSOLUTE_HOURS = 14 * 24
IDLE_RANGE = (5, 12 * 60)
ABSOLUTE_RANGE = (1, 14 * 24)
"""An account may shorten the installation's limits (``app.accounts.tenancy``), never lengthen them."""


class SecurityError(Exception):
    """A request that breaks a rule; the message is safe to show."""


@dataclass(frozen=True)
class Policy:
    account_id: int
    second_factor: SecondFactorRule
    idle: timedelta
    absolute: timedelta
    time_zone: str = "UTC"
    web: Rules = field(default_factory=Rules)
    api: Rules = field(default_factory=Rules)
    texts: dict[str, str] | None = None
    """What the admin typed (for the form), by field name."""

    def rules(self, channel: Channel) -> Rules:
        return self.web if channel is Channel.WEB else self.api

    def requires_factor(self, role: Role) -> bool:
        return self.second_factor is SecondFactorRule.EVERYONE or (
            self.second_factor is SecondFactorRule.ADMINS and role is Role.ADMIN
        )


def policy_of(session: DbSession, account_id: int) -> Policy:
    row = session.get(SecurityPolicy, account_id)
    if row is None:
        return Policy(
            account_id,
            SecondFactorRule.OFF,
            timedelta(minutes=DEFAULT_IDLE_MINUTES),
            timedelta(hours=DEFAULT_ABSOLUTE_HOURS),
        )
    return Policy(
        account_id,
        SecondFactorRule(row.second_factor),
        timedelta(minutes=row.idle_minutes),
        timedelta(hours=row.absolute_hours),
        row.time_zone,
        # Stored rules were checked when saved; parsing them again cannot fail.
        Rules(parse_networks(row.web_networks, "web"), parse_hours(row.web_hours, "web")),
        Rules(parse_networks(row.api_networks, "api"), parse_hours(row.api_hours, "api")),
        {name: getattr(row, name) for name in RULE_FIELDS},
    )


RULE_FIELDS = ("time_zone", "web_networks", "web_hours", "api_networks", "api_hours")
RULE_LABELS = {
    "web_networks": _l("Addresses allowed for the web pages"),
    "web_hours": _l("Hours allowed for the web pages"),
    "api_networks": _l("Addresses allowed for the CRM API"),
    "api_hours": _l("Hours allowed for the CRM API"),
}


def _whole(value: str, name: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise SecurityError(
            _("%(field)s must be a whole number from %(low)s to %(high)s.", field=name, low=low, high=high)
        )
    return int(value)


def update_policy(
    session: DbSession,
    account_id: int,
    *,
    actor_user_id: int,
    second_factor: str,
    idle_minutes: str,
    absolute_hours: str,
) -> Policy:
    """Change an account's sign-in rules; every problem is named, and the change is audited."""
    try:
        rule = SecondFactorRule(second_factor)
    except ValueError:
        allowed = ", ".join(r.value for r in SecondFactorRule)
        raise SecurityError(
            _("Second factor requirement must be one of %(allowed)s.", allowed=allowed)
        ) from None
    idle = _whole(idle_minutes, _("Idle timeout (minutes)"), IDLE_RANGE)
    absolute = _whole(absolute_hours, _("Absolute timeout (hours)"), ABSOLUTE_RANGE)
    with unit_of_work(session) as work:
        before = policy_of(work, account_id)
        row = policy_row(work, account_id)
        row.second_factor, row.idle_minutes, row.absolute_hours = rule.value, idle, absolute
        row.updated_at = utcnow()
        audit.record(
            work,
            account_id,
            AuditAction.POLICY_CHANGED,
            actor_user_id=actor_user_id,
            detail={
                "second_factor_from": before.second_factor.value,
                "second_factor_to": rule.value,
                "idle_minutes_from": int(before.idle.total_seconds() // 60),
                "idle_minutes_to": idle,
                "absolute_hours_from": int(before.absolute.total_seconds() // 3600),
                "absolute_hours_to": absolute,
            },
        )
    return policy_of(session, account_id)


def policy_row(session: Session, account_id: int) -> SecurityPolicy:
    row = session.get(SecurityPolicy, account_id)
    if row is None:
        row = SecurityPolicy(
            account_id=account_id,
            second_factor=SecondFactorRule.OFF.value,
            idle_minutes=DEFAULT_IDLE_MINUTES,
            absolute_hours=DEFAULT_ABSOLUTE_HOURS,
            time_zone="UTC",
            web_networks="",
            api_networks="",
            web_hours="",
            api_hours="",
        )
        session.add(row)
    return row


# ------------------------------------------------------------------------------ sessions


class Ended(StrEnum):
    IDLE = "idle"
    ABSOLUTE = "absolute"


def session_end(policy: Policy, login: LoginSession, now: datetime) -> Ended | None:
    """Why the account's own limits end this session now, if they do."""
    if login.last_seen_at < now - policy.idle:
        return Ended.IDLE
    if login.created_at < now - policy.absolute:
        return Ended.ABSOLUTE
    return None


def second_factor_given(session: DbSession, login: LoginSession) -> bool:
    detail = session.get(SessionDetail, login.id)
    return detail is not None and detail.second_factor_at is not None


def end_login(session: DbSession, login_id: int) -> None:
    with unit_of_work(session) as work:
        work.execute(delete(LoginSession).where(LoginSession.id == login_id))


@dataclass(frozen=True)
class ActiveSession:
    id: int
    account_name: str
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str
    second_factor: bool


def sessions_of(session: DbSession, user_id: int) -> list[ActiveSession]:
    """Every sign-in session of the person, in every account, newest activity first."""
    rows = session.execute(
        select(LoginSession, SessionDetail)
        .join(Membership, LoginSession.membership_id == Membership.id)
        .outerjoin(SessionDetail, SessionDetail.login_session_id == LoginSession.id)
        .where(Membership.user_id == user_id)
        .order_by(LoginSession.last_seen_at.desc())
    ).all()
    return [
        ActiveSession(
            id=login.id,
            account_name=login.membership.account.name,
            created_at=login.created_at,
            last_seen_at=login.last_seen_at,
            ip=login.ip,
            user_agent=login.user_agent,
            second_factor=bool(detail and detail.second_factor_at),
        )
        for login, detail in rows
    ]


def end_sessions(
    session: DbSession, membership: Membership, *, only: int | None = None, keep: int | None = None
) -> int:
    """End one (``only``) or all of the person's sessions, except ``keep``; audited in this account."""
    with unit_of_work(session) as work:
        ids = select(LoginSession.id).join(Membership).where(Membership.user_id == membership.user_id)
        if only is not None:
            ids = ids.where(LoginSession.id == only)
        if keep is not None:
            ids = ids.where(LoginSession.id != keep)
        targets = list(work.scalars(ids))
        if targets:
            work.execute(delete(LoginSession).where(LoginSession.id.in_(targets)))
            audit.record(
                work,
                membership.account_id,
                AuditAction.SESSIONS_ENDED,
                actor_user_id=membership.user_id,
                detail={"sessions": len(targets)},
            )
    return len(targets)


# ----------------------------------------------------------------------------- TOTP


def _binding(factor: SecondFactor) -> Binding:
    return Binding(SecondFactor.__tablename__, factor.id, factor.user_id, TokenPurpose.TOTP_SECRET)


def totp_secret(vault: TokenVault, factor: SecondFactor) -> str:
    return vault.open(Sealed(factor.secret_key_id, factor.secret_ciphertext), _binding(factor))


def confirmed_factor(session: DbSession, membership_id: int) -> SecondFactor | None:
    return session.scalar(
        select(SecondFactor).where(
            SecondFactor.membership_id == membership_id, SecondFactor.confirmed_at.is_not(None)
        )
    )


def has_second_factor(session: DbSession, membership_id: int) -> bool:
    """A confirmed authenticator app or at least one passkey: either satisfies a "required" rule."""
    return (
        confirmed_factor(session, membership_id) is not None
        or session.scalar(select(Passkey.id).where(Passkey.membership_id == membership_id).limit(1))
        is not None
    )


@dataclass(frozen=True)
class Enrolment:
    factor_id: int
    secret: str
    uri: str


def start_enrolment(session: DbSession, vault: TokenVault, membership: Membership) -> Enrolment:
    """A new, unconfirmed authenticator; the secret is shown to the person once, on this page."""
    secret = pyotp.random_base32()
    with unit_of_work(session) as work:
        work.execute(
            delete(SecondFactor).where(
                SecondFactor.membership_id == membership.id, SecondFactor.confirmed_at.is_(None)
            )
        )
        factor = SecondFactor(
            membership_id=membership.id, user_id=membership.user_id, secret_ciphertext=b"", secret_key_id=""
        )
        work.add(factor)
        work.flush()
        sealed = vault.seal(secret, _binding(factor))
        factor.secret_ciphertext, factor.secret_key_id = sealed.blob, sealed.key_id
    label = f"{membership.account.name}: {membership.user.email}"
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
    return Enrolment(factor.id, secret, uri)


def matching_counter(secret: str, code: str, last: int | None, now: datetime) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift either way), unless already used."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for counter in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code) and (last is None or counter > last):
            return counter
    return None


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def new_recovery_codes(session: Session, membership_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.membership_id == membership_id))
    codes = []
    for _number in range(RECOVERY_CODES):
        raw = secrets.token_hex(8)[:15]
        code = f"{raw[:5]}-{raw[5:10]}-{raw[10:]}"
        codes.append(code)
        session.add(RecoveryCode(membership_id=membership_id, code_hash=_hash_code(code)))
    return codes


def confirm_enrolment(
    session: DbSession,
    vault: TokenVault,
    membership: Membership,
    *,
    factor_id: int,
    code: str,
    login: LoginSession | None,
    now: datetime | None = None,
) -> list[str]:
    """Confirm the new authenticator with its first code; returns fresh recovery codes (shown once)."""
    moment = now or utcnow()
    with unit_of_work(session) as work:
        factor = work.get(SecondFactor, factor_id)
        if factor is None or factor.membership_id != membership.id or factor.confirmed_at is not None:
            raise SecurityError(_l("This enrolment is over or unknown. Please start again."))
        if has_second_factor(work, membership.id) and (login is None or not second_factor_given(work, login)):
            # Else a Google sign-in alone could swap in a new authenticator and pass the second factor.
            raise SecurityError(_l("Confirm your current second factor before setting up another one."))
        counter = matching_counter(totp_secret(vault, factor), code, None, moment)
        if counter is None:
            raise SecurityError(_("That code is not right. Enter the 6-digit code your app shows now."))
        work.execute(
            delete(SecondFactor).where(
                SecondFactor.membership_id == membership.id, SecondFactor.id != factor.id
            )
        )
        factor.confirmed_at, factor.last_counter = moment, counter
        codes = new_recovery_codes(work, membership.id)
        if login is not None:
            mark_verified(work, login, moment)
        audit.record(
            work,
            membership.account_id,
            AuditAction.FACTOR_ENROLLED,
            actor_user_id=membership.user_id,
            detail={"kind": "totp"},
        )
    return codes


def mark_verified(session: Session, login: LoginSession, moment: datetime) -> None:
    detail = session.get(SessionDetail, login.id)
    if detail is None:
        detail = SessionDetail(login_session_id=login.id)
        session.add(detail)
    detail.second_factor_at, detail.failed_attempts = moment, 0


class Verified(StrEnum):
    CODE = "code"
    PASSKEY = "passkey"
    RECOVERY_CODE = "recovery_code"
    WRONG = "wrong"
    LOCKED = "locked"


def verify(
    session: DbSession,
    vault: TokenVault,
    membership: Membership,
    login: LoginSession,
    code: str,
    *,
    now: datetime | None = None,
) -> Verified:
    """Check a code or a recovery code for this session; too many wrong ones end the session."""
    moment = now or utcnow()
    with unit_of_work(session) as work:
        factor = confirmed_factor(work, membership.id)
        if factor is not None:
            counter = matching_counter(totp_secret(vault, factor), code, factor.last_counter, moment)
            if counter is not None:
                factor.last_counter = counter
                mark_verified(work, login, moment)
                return Verified.CODE
        recovery = work.scalar(
            select(RecoveryCode).where(
                RecoveryCode.membership_id == membership.id,
                RecoveryCode.code_hash == _hash_code(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if recovery is not None:
            recovery.used_at = moment
            mark_verified(work, login, moment)
            audit.record(
                work, membership.account_id, AuditAction.RECOVERY_CODE_USED, actor_user_id=membership.user_id
            )
            return Verified.RECOVERY_CODE
        return count_wrong_attempt(work, membership, login)


def count_wrong_attempt(session: Session, membership: Membership, login: LoginSession) -> Verified:
    """One more wrong code or passkey answer in this session; the last allowed one ends the session."""
    detail = session.get(SessionDetail, login.id)
    if detail is None:
        detail = SessionDetail(login_session_id=login.id, failed_attempts=0)
        session.add(detail)
    detail.failed_attempts = (detail.failed_attempts or 0) + 1
    if detail.failed_attempts < MAX_FAILED_ATTEMPTS:
        return Verified.WRONG
    session.execute(delete(LoginSession).where(LoginSession.id == login.id))
    audit.record(
        session,
        membership.account_id,
        AuditAction.SIGN_IN_REFUSED,
        actor_user_id=membership.user_id,
        outcome="too_many_wrong_codes",
    )
    return Verified.LOCKED


def recovery_codes_left(session: DbSession, membership_id: int) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.membership_id == membership_id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def renew_recovery_codes(session: DbSession, membership: Membership) -> list[str]:
    with unit_of_work(session) as work:
        if not has_second_factor(work, membership.id):
            raise SecurityError(_l("Set up an authenticator app or a passkey first."))
        codes = new_recovery_codes(work, membership.id)
        audit.record(
            work, membership.account_id, AuditAction.RECOVERY_CODES_RENEWED, actor_user_id=membership.user_id
        )
    return codes


def reset_factor(session: DbSession, admin: Membership, target: Membership) -> None:
    """An admin clears a member's lost second factor: authenticator, passkeys, recovery codes and sessions go.

    The member enrols again at their next sign-in (if the account requires a second factor).
    """
    if admin.account_id != target.account_id or admin.role is not Role.ADMIN:
        raise SecurityError(_("Only an admin of the same account can reset a second factor."))
    if admin.id == target.id:
        raise SecurityError(_("Ask another admin to reset your own second factor."))
    with unit_of_work(session) as work:
        passkeys = work.scalars(select(Passkey.id).where(Passkey.membership_id == target.id)).all()
        work.execute(delete(SecondFactor).where(SecondFactor.membership_id == target.id))
        work.execute(delete(Passkey).where(Passkey.membership_id == target.id))
        work.execute(delete(RecoveryCode).where(RecoveryCode.membership_id == target.id))
        work.execute(delete(LoginSession).where(LoginSession.membership_id == target.id))
        audit.record(
            work,
            target.account_id,
            AuditAction.FACTOR_RESET,
            actor_user_id=admin.user_id,
            detail={"member_user_id": target.user_id, "passkeys_removed": len(passkeys)},
        )


def factor_status(session: DbSession, account_id: int) -> dict[int, bool]:
    """Membership id → has a confirmed authenticator app or a passkey, for the account's members page."""
    apps = session.scalars(
        select(SecondFactor.membership_id)
        .join(Membership, SecondFactor.membership_id == Membership.id)
        .where(Membership.account_id == account_id, SecondFactor.confirmed_at.is_not(None))
    )
    passkeys = session.scalars(
        select(Passkey.membership_id)
        .join(Membership, Passkey.membership_id == Membership.id)
        .where(Membership.account_id == account_id)
    )
    return dict.fromkeys([*apps, *passkeys], True)
