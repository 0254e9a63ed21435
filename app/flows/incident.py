"""Breach notification: tell each user whose Google data flowed in a window, and record it.

For every account/user pair the ledger shows in the window (:func:`app.ledger.queries.incident`)
the user gets an e-mail through the configured transport and a notice at their next page
view, both naming the kinds of data, the window and what to do; then a
``security.incident_notified`` entry goes into the account's chain. A user already notified
for the same window is skipped, so an interrupted run is finished by running it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.accounts.models import User
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.queries import IncidentRow, incident
from app.ledger.services import record
from app.mail import Mail, Mailer, MailError
from app.privacy import notices

CATEGORY_WORDS: dict[str, str] = {
    DataCategory.NAMES: "contact names",
    DataCategory.ORGANIZATIONS: "contacts' companies and job titles",
    DataCategory.EMAIL_ADDRESSES: "contacts' e-mail addresses",
    DataCategory.PHONE_NUMBERS: "contacts' phone numbers",
    DataCategory.BIRTHDAYS: "contacts' birthdays",
    DataCategory.BIOGRAPHIES: "contact notes",
    DataCategory.ADDRESSES: "contacts' postal addresses",
    DataCategory.IM_CLIENTS: "contacts' messenger handles",
    DataCategory.URLS: "contacts' web and social profile links",
    DataCategory.MEMBERSHIPS: "which contacts are in the GroupSync group",
    DataCategory.CLIENT_DATA: "GroupSync's own markers on contacts",
    DataCategory.CONTACT_GROUPS: "the GroupSync contact group",
    DataCategory.METADATA: "Google's identifiers and version tags of contacts",
    DataCategory.OAUTH_TOKENS: "GroupSync's access tokens for your Google account",
    DataCategory.IDENTITY: "your Google account identifier, name and e-mail address",
}
DEFAULT_ADVICE = (
    "Check the contacts in your GroupSync group and your Google account's recent security "
    "activity (myaccount.google.com/security). If you want to stop GroupSync's access, "
    "disconnect Google in GroupSync or remove GroupSync at myaccount.google.com/permissions."
)


@dataclass(frozen=True)
class Incident:
    start: datetime
    end: datetime
    description: str
    """What happened, in the operator's words."""
    advice: str = DEFAULT_ADVICE


@dataclass(frozen=True)
class Notified:
    account_id: int
    user_id: int
    email_outcome: str
    """``sent``, ``failed`` (the notice and the ledger entry are still made) or ``skipped`` (done before)."""


def _window(incident_: Incident) -> dict[str, str]:
    return {"window_start": incident_.start.isoformat(), "window_end": incident_.end.isoformat()}


def categories_for(session: DbSession, row: IncidentRow, start: datetime, end: datetime) -> list[str]:
    """The kinds of data recorded for the user's flows in the window, in plain words."""
    found: set[str] = set()
    for raw in session.scalars(
        select(LedgerEntry.categories).where(
            LedgerEntry.account_id == row.account_id,
            LedgerEntry.user_id == row.user_id,
            LedgerEntry.recorded_at >= start,
            LedgerEntry.recorded_at < end,
        )
    ):
        found.update(json.loads(raw))
    return sorted(CATEGORY_WORDS.get(name, name) for name in found)


def _already_notified(session: DbSession, row: IncidentRow, window: dict[str, str]) -> bool:
    details = session.scalars(
        select(LedgerEntry.detail).where(
            LedgerEntry.tag == EventTag.INCIDENT_NOTIFIED.value,
            LedgerEntry.account_id == row.account_id,
            LedgerEntry.user_id == row.user_id,
        )
    )
    return any(
        all(json.loads(detail).get(key) == value for key, value in window.items()) for detail in details
    )


def message(incident_: Incident, row: IncidentRow, kinds: list[str], settings: Settings) -> Mail:
    data = "; ".join(kinds) if kinds else "no recorded kinds of contact data (only requests to Google)"
    body = (
        f"{settings.operator.legal_name}, which runs the GroupSync installation you use, is writing "
        "to tell you about a security incident that may have exposed data about you.\n\n"
        f"What happened: {incident_.description}\n\n"
        f"Period: from {incident_.start:%Y-%m-%d %H:%M} to {incident_.end:%Y-%m-%d %H:%M} UTC\n"
        f"GroupSync account: {row.account_name or row.account_id}\n"
        f"Data involved: {data} ({row.flows} recorded flows of your Google data in that period)\n\n"
        f"What to do: {incident_.advice}\n\n"
        f"Questions: write to {settings.operator.privacy_email}.\n"
    )
    return Mail(to=row.user_email or "", subject="Security incident: data about you in GroupSync", body=body)


def notify_incident(session: DbSession, incident_: Incident, *, settings: Settings) -> list[Notified]:
    """E-mail, notice and ledger entry for each affected user; rows without a live user are skipped."""
    window = _window(incident_)
    done: list[Notified] = []
    mailer = Mailer.for_settings(settings)
    for row in incident(session, incident_.start, incident_.end):
        if row.user_id is None or row.account_id is None or row.user_email is None:
            continue
        if _already_notified(session, row, window):
            done.append(Notified(row.account_id, row.user_id, "skipped"))
            continue
        kinds = categories_for(session, row, incident_.start, incident_.end)
        mail = message(incident_, row, kinds, settings)
        try:
            mailer.send(mail)
            outcome = "sent"
        except MailError:
            outcome = "failed"
        with unit_of_work(session) as work:
            user = work.get(User, row.user_id)
            if user is None:
                continue
            notices.add(work, row.user_id, notices.INCIDENT, mail.subject, mail.body)
            record(
                work,
                Flow(
                    tag=EventTag.INCIDENT_NOTIFIED,
                    account_id=row.account_id,
                    kind=FlowKind.LIFECYCLE,
                    purpose=Purpose.SECURITY,
                    trigger=Trigger.ADMIN,
                    actor="system",
                    outcome="ok" if outcome == "sent" else "email_failed",
                    destination=Destination.GROUPSYNC_STORE,
                    user_id=row.user_id,
                    detail={**window, "email": outcome, "notice": True, "flows": row.flows},
                ),
            )
        done.append(Notified(row.account_id, row.user_id, outcome))
    return done
