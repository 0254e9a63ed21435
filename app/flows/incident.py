"""Breach notification: tell each user whose Google data flowed in a window, and record it.

For every account/user pair the ledger shows in the window (:func:`app.ledger.queries.incident`)
the user gets an e-mail through the configured transport and a notice at their next page
view, both naming the kinds of data, the window and what to do; then a
``security.incident_notified`` entry goes into the account's chain. A user already notified
for the same window is skipped, so an interrupted run is finished by running it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import force_locale
from sqlalchemy import select

from app.accounts.models import User
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.extensions import N_, shown_message, stored_message
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.models import LedgerEntry
from app.ledger.queries import IncidentRow, incident
from app.ledger.services import record
from app.mail import Mail, Mailer, MailError
from app.privacy import notices

CATEGORY_WORDS: dict[str, str] = {
    DataCategory.NAMES: N_("contact names"),
    DataCategory.ORGANIZATIONS: N_("contacts' companies and job titles"),
    DataCategory.EMAIL_ADDRESSES: N_("contacts' e-mail addresses"),
    DataCategory.PHONE_NUMBERS: N_("contacts' phone numbers"),
    DataCategory.BIRTHDAYS: N_("contacts' birthdays"),
    DataCategory.BIOGRAPHIES: N_("contact notes"),
    DataCategory.ADDRESSES: N_("contacts' postal addresses"),
    DataCategory.IM_CLIENTS: N_("contacts' messenger handles"),
    DataCategory.URLS: N_("contacts' web and social profile links"),
    DataCategory.MEMBERSHIPS: N_("which contacts are in the GroupSync group"),
    DataCategory.CLIENT_DATA: N_("GroupSync's own markers on contacts"),
    DataCategory.CONTACT_GROUPS: N_("the GroupSync contact group"),
    DataCategory.METADATA: N_("Google's identifiers and version tags of contacts"),
    DataCategory.OAUTH_TOKENS: N_("GroupSync's access tokens for your Google account"),
    DataCategory.IDENTITY: N_("your Google account identifier, name and e-mail address"),
}
DEFAULT_ADVICE = N_(
    "Check the contacts in your GroupSync group and your Google account's recent security "
    "activity (myaccount.google.com/security). If you want to stop GroupSync's access, "
    "disconnect Google in GroupSync or remove GroupSync at myaccount.google.com/permissions."
)
"""Marked for translation: readers see it in their language (an operator's own advice shows as written)."""


@dataclass(frozen=True)
class Incident:
    start: datetime
    end: datetime
    description: str
    """What happened, in the operator's words: shown to readers of any language without its own version."""
    advice: str = DEFAULT_ADVICE
    description_in: dict[str, str] = field(default_factory=dict)
    """The operator's own versions of ``description`` by language (``uk``, ``ru``)."""
    advice_in: dict[str, str] = field(default_factory=dict)
    """The operator's own versions of ``advice`` by language; unused with the default advice (translated)."""


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


def _in_languages(text: str, versions: dict[str, str]) -> str | dict[str, str]:
    """The operator's words: one text, or one per language (the stored form shows the reader's)."""
    return {"en": text, **versions} if versions else text


def notice_texts(
    incident_: Incident, row: IncidentRow, kinds: list[str], settings: Settings
) -> tuple[str, str]:
    """Subject and body as stored messages: the notice in GroupSync shows them in its reader's language.

    ``kinds`` are :data:`CATEGORY_WORDS` values (message ids); the operator's own words are kept as
    written, in the reader's language where the operator gave a version in it; the default advice is
    translated.
    """
    data: list[str] | str = [stored_message(kind) for kind in kinds]
    if not kinds:
        data = stored_message(N_("no recorded kinds of contact data (only requests to Google)"))
    advice = (
        stored_message(DEFAULT_ADVICE)
        if incident_.advice == DEFAULT_ADVICE
        else _in_languages(incident_.advice, incident_.advice_in)
    )
    body = stored_message(
        N_(
            "%(operator)s, which runs the GroupSync installation you use, is writing to tell you about a "
            "security incident that may have exposed data about you.\n\n"
            "What happened: %(what)s\n\n"
            "Period: from %(start)s to %(end)s UTC\n"
            "GroupSync account: %(account)s\n"
            "Data involved: %(data)s (%(flows)s recorded flows of your Google data in that period)\n\n"
            "What to do: %(advice)s\n\n"
            "Questions: write to %(email)s."
        ),
        operator=settings.operator.legal_name,
        what=_in_languages(incident_.description, incident_.description_in),
        start=f"{incident_.start:%Y-%m-%d %H:%M}",
        end=f"{incident_.end:%Y-%m-%d %H:%M}",
        account=row.account_name or str(row.account_id),
        data=data,
        flows=row.flows,
        advice=advice,
        email=settings.operator.privacy_email,
    )
    return stored_message(N_("Security incident: data about you in GroupSync")), body


def message(
    incident_: Incident, row: IncidentRow, kinds: list[str], settings: Settings, language: str | None = None
) -> Mail:
    """The e-mail, in the language the user chose for GroupSync (English if none)."""
    subject, body = notice_texts(incident_, row, kinds, settings)
    with force_locale(language or "en"):
        return Mail(to=row.user_email or "", subject=shown_message(subject), body=shown_message(body) + "\n")


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
        reader = session.get(User, row.user_id)
        mail = message(incident_, row, kinds, settings, reader.language if reader is not None else None)
        try:
            mailer.send(mail)
            outcome = "sent"
        except MailError:
            outcome = "failed"
        with unit_of_work(session) as work:
            user = work.get(User, row.user_id)
            if user is None:
                continue
            notices.add(work, row.user_id, notices.INCIDENT, *notice_texts(incident_, row, kinds, settings))
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
