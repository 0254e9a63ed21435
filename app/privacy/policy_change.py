"""A new privacy-policy version: who must be told, what their banner says, and the advance e-mail.

An operator publishes ``v<N>.md`` with an ``Effective:`` date in the future. From
``GROUPSYNC_POLICY_NOTICE_DAYS`` days before that date, every user who accepted an earlier
version sees a banner and (when ``groupsync privacy notify-policy`` runs) gets one e-mail,
both leading to the "review and accept" page. From the effective date a user who has not
accepted pauses: the sync gate (:func:`app.privacy.disclosure.has_current_acceptance`)
refuses, and the sync resumes by itself once they accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import force_locale, format_date
from sqlalchemy import select

from app.accounts.models import User
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.extensions import gettext as _
from app.ledger.events import Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.services import record
from app.mail import Mail, Mailer, MailError
from app.privacy import disclosure
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import PolicyVersion, upcoming_policy, utc_today


@dataclass(frozen=True)
class PolicyStatus:
    """What one user must be told about the policy in one account."""

    paused: bool
    """They accepted an earlier text but not the one in force: their syncs wait for them."""
    upcoming: PolicyVersion | None
    """A later version they have not accepted yet, announced from its notice date."""

    @property
    def needs_attention(self) -> bool:
        return self.paused or self.upcoming is not None


def notice_from(version: PolicyVersion, settings: Settings) -> date | None:
    return version.effective - timedelta(days=settings.policy_notice_days) if version.effective else None


def _accepted(session: DbSession, user_id: int, account_id: int | None, policy_version: str) -> bool:
    query = select(DisclosureAcceptance.id).where(
        DisclosureAcceptance.user_id == user_id, DisclosureAcceptance.policy_version == policy_version
    )
    if account_id is not None:
        query = query.where(DisclosureAcceptance.account_id == account_id)
    return session.scalar(query.limit(1)) is not None


def _ever_accepted(session: DbSession, user_id: int, account_id: int) -> bool:
    query = select(DisclosureAcceptance.id).where(
        DisclosureAcceptance.user_id == user_id, DisclosureAcceptance.account_id == account_id
    )
    return session.scalar(query.limit(1)) is not None


def status_for(
    session: DbSession, user_id: int, account_id: int, *, settings: Settings, today: date | None = None
) -> PolicyStatus:
    today = today or utc_today()
    if not _ever_accepted(session, user_id, account_id):
        # Never connected here: the disclosure page shows the current texts when they do.
        return PolicyStatus(False, None)
    paused = not disclosure.has_current_acceptance(session, user_id, account_id)
    upcoming = upcoming_policy(settings, today)
    start = notice_from(upcoming, settings) if upcoming is not None else None
    if upcoming is None or start is None or today < start:
        return PolicyStatus(paused, None)
    if _accepted(session, user_id, account_id, upcoming.version):
        return PolicyStatus(paused, None)
    return PolicyStatus(paused, upcoming)


def _already_told(session: DbSession, user_id: int, version: str) -> bool:
    details = session.scalars(
        select(LedgerEntry.detail).where(
            LedgerEntry.tag == EventTag.POLICY_NOTICE_SENT.value, LedgerEntry.user_id == user_id
        )
    )
    return any(json.loads(detail).get("policy_version") == version for detail in details)


def notice_mail(user: User, version: PolicyVersion, settings: Settings) -> Mail:
    """The notice in the language the user chose for GroupSync's pages (English if none)."""
    with force_locale(user.language or "en"):
        when = format_date(version.effective, "long") if version.effective else version.version
        body = "\n\n".join(
            [
                _(
                    "GroupSync's privacy policy changes: version %(version)s takes effect on %(when)s.",
                    version=version.version,
                    when=when,
                ),
                _("Read it and accept it here: %(url)s", url=f"{settings.public_url}/privacy/review"),
                _(
                    "If you have not accepted it by that date, GroupSync pauses your contact sync until you "
                    "do; nothing in your Google Contacts is changed meanwhile. Once you accept, the sync "
                    "resumes by itself."
                ),
            ]
        )
        subject = _("GroupSync privacy policy %(version)s from %(when)s", version=version.version, when=when)
    return Mail(to=user.email, subject=subject, body=body + "\n")


def notify_upcoming(
    session: DbSession, *, settings: Settings, today: date | None = None
) -> list[tuple[int, str]]:
    """E-mail each user who accepted an earlier version about the upcoming one, once each.

    Returns ``(user_id, outcome)`` pairs; nothing is sent before the notice date. Each e-mail
    that went out is recorded in the ledger of every account where the user accepted before.
    """
    today = today or utc_today()
    upcoming = upcoming_policy(settings, today)
    start = notice_from(upcoming, settings) if upcoming else None
    if upcoming is None or start is None or today < start:
        return []
    rows = session.execute(
        select(DisclosureAcceptance.user_id, DisclosureAcceptance.account_id).distinct()
    ).all()
    accounts: dict[int, set[int]] = {}
    for user_id, account_id in rows:
        accounts.setdefault(user_id, set()).add(account_id)
    mailer = Mailer.for_settings(settings)
    results: list[tuple[int, str]] = []
    for user_id in sorted(accounts):
        user = session.get(User, user_id)
        if user is None or _already_told(session, user_id, upcoming.version):
            continue
        if _accepted(session, user_id, None, upcoming.version):
            continue
        try:
            mailer.send(notice_mail(user, upcoming, settings))
        except MailError:
            results.append((user_id, "failed"))
            continue
        with unit_of_work(session) as work:
            for account_id in sorted(accounts[user_id]):
                record(
                    work,
                    Flow(
                        tag=EventTag.POLICY_NOTICE_SENT,
                        account_id=account_id,
                        kind=FlowKind.LIFECYCLE,
                        purpose=Purpose.ACCOUNT_CONNECTION,
                        trigger=Trigger.SYSTEM,
                        actor="system",
                        outcome="ok",
                        destination=Destination.GROUPSYNC_STORE,
                        user_id=user_id,
                        detail={"policy_version": upcoming.version, "effective": str(upcoming.effective)},
                    ),
                )
        results.append((user_id, "sent"))
    return results
