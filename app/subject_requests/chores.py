"""The data-request chore (run by the worker like retention) and the operator's overdue listing.

Each run, with the clock it is given:

* deletes unconfirmed requests whose link has expired (nothing of them is kept);
* e-mails every admin of an account once when one of its open requests has 7 days or less
  left, and once more at 1 day or less (each request remembers which reminders went);
* flags a request past its deadline to the operator's data-protection contact
  (``GROUPSYNC_PRIVACY_EMAIL``) once.

Each reminder and flag is written to the account's audit log. A mail that fails is logged and
tried again at the next run (the request is marked only once its mail went out).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.accounts.models import Account, Membership, Role
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.mail import Mailer, MailError
from app.security import audit
from app.security.audit import AuditAction
from app.subject_requests import mails
from app.subject_requests.models import RequestState, SubjectRequest
from app.subject_requests.services import days_left

log = logging.getLogger(__name__)

REMINDERS = ((7, "reminded_week_at"), (1, "reminded_day_at"))
"""Days left at which the admins are reminded, and the column remembering that they were."""


def purge_unconfirmed(session: DbSession, now: datetime) -> int:
    with unit_of_work(session) as work:
        result = work.execute(
            delete(SubjectRequest).where(
                SubjectRequest.state == RequestState.UNCONFIRMED.value,
                SubjectRequest.token_expires_at <= now,
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _open_requests(session: DbSession) -> list[SubjectRequest]:
    return list(
        session.scalars(
            select(SubjectRequest)
            .where(SubjectRequest.state == RequestState.OPEN.value)
            .order_by(SubjectRequest.account_id, SubjectRequest.id)
        )
    )


def _admins(session: DbSession, account_id: int) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership).where(Membership.account_id == account_id, Membership.role == Role.ADMIN)
        )
    )


def _remind(session: DbSession, mailer: Mailer, settings: Settings, now: datetime) -> int:
    due: dict[tuple[int, int, str], list[SubjectRequest]] = defaultdict(list)
    for request in _open_requests(session):
        left = days_left(request, now)
        for days, column in REMINDERS:
            if left is not None and 0 < left <= days and getattr(request, column) is None:
                due[(request.account_id, days, column)].append(request)
                break
    sent = 0
    link = f"{settings.public_url}/admin/data-requests"
    for (account_id, days, column), requests in due.items():
        account = session.get_one(Account, account_id)
        try:
            for admin in _admins(session, account_id):
                address = admin.user.notice_email or admin.user.email
                language = admin.user.language or "en"
                mailer.send(
                    mails.reminder(
                        address, language, account.name, open_requests=len(requests), days=days, link=link
                    )
                )
        except MailError:
            log.exception("data-request reminder for account %s not sent; tried again next run", account_id)
            continue
        with unit_of_work(session) as work:
            for request in requests:
                setattr(request, column, now)
                # Both thresholds passed at once (a late run): the earlier one is moot now.
                if column == "reminded_day_at" and request.reminded_week_at is None:
                    request.reminded_week_at = now
                audit.record(
                    work,
                    account_id,
                    AuditAction.DATA_REQUEST_REMINDED,
                    actor_user_id=None,
                    detail={"request_id": request.id, "days_left": days},
                    now=now,
                )
        sent += len(requests)
    return sent


def _flag_overdue(session: DbSession, mailer: Mailer, settings: Settings, now: datetime) -> int:
    by_account: dict[int, list[SubjectRequest]] = defaultdict(list)
    for request in _open_requests(session):
        if request.due_at is not None and request.due_at <= now and request.overdue_flagged_at is None:
            by_account[request.account_id].append(request)
    flagged = 0
    for account_id, requests in by_account.items():
        account = session.get_one(Account, account_id)
        ids = [request.id for request in requests]
        try:
            mailer.send(
                mails.overdue_notice(
                    settings.operator.privacy_email, account_id, account.name, ids, settings.public_url
                )
            )
        except MailError:
            log.exception("overdue data requests of account %s not flagged; tried again next run", account_id)
            continue
        with unit_of_work(session) as work:
            for request in requests:
                request.overdue_flagged_at = now
                audit.record(
                    work,
                    account_id,
                    AuditAction.DATA_REQUEST_OVERDUE,
                    actor_user_id=None,
                    actor="operator",
                    detail={"request_id": request.id, "kind": request.kind},
                    now=now,
                )
        flagged += len(requests)
    return flagged


def run(session: Session, settings: Settings, now: datetime) -> int:
    """The chore: expired links purged, reminders sent, overdue requests flagged; returns how many in all."""
    mailer = Mailer.for_settings(settings)
    purged = purge_unconfirmed(session, now)
    reminded = _remind(session, mailer, settings, now)
    flagged = _flag_overdue(session, mailer, settings, now)
    log.info(
        "data requests: %d expired unconfirmed deleted, %d reminded, %d flagged overdue",
        purged,
        reminded,
        flagged,
    )
    return purged + reminded + flagged


@dataclass(frozen=True)
class Overdue:
    account_id: int
    account_name: str
    request_id: int
    kind: str
    due_at: datetime
    days_overdue: int


def overdue(session: DbSession, now: datetime) -> list[Overdue]:
    """Every open request past its deadline, oldest deadline first (the operator's listing)."""
    rows = session.execute(
        select(SubjectRequest, Account.name)
        .join(Account, Account.id == SubjectRequest.account_id)
        .where(SubjectRequest.state == RequestState.OPEN.value, SubjectRequest.due_at <= now)
        .order_by(SubjectRequest.due_at, SubjectRequest.id)
    )
    found = []
    for request, name in rows:
        assert request.due_at is not None
        late = (now - request.due_at) // timedelta(days=1)
        found.append(Overdue(request.account_id, name, request.id, request.kind, request.due_at, late))
    return found
