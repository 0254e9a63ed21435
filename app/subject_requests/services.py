"""Data-subject requests: asked on an account's public page, confirmed by e-mail, answered by its admins.

The steps, each in its own transaction and each written to the account's audit log:

1. :func:`submit` — anyone sends the form. The confirmation link (a random token, only its
   SHA-256 stored) is mailed to the address given, whether or not the CRM knows that address,
   and the page answers the same either way, so it tells nobody which addresses the CRM holds.
2. :func:`confirm` — the link, used once before it expires, opens the request; the 30 days to
   answer start then (:data:`DEADLINE`).
3. :func:`view` — an admin opens it (the first view is recorded).
4. :func:`fulfil` or :func:`reject` — the requester is told by e-mail; the request is closed
   and their address and words are blanked.

The audit log names requests by their number and kind only, never the address or the words.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.accounts.models import Account
from app.config import Settings
from app.crm import services as crm_services
from app.crm.models import CrmContact, to_contact_data
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import gettext as _
from app.mail import Mail, Mailer, MailError
from app.security import audit
from app.security.audit import AuditAction
from app.subject_requests import mails
from app.subject_requests.models import RequestKind, RequestState, SubjectRequest

DEADLINE = timedelta(days=30)
"""Time to answer, counted from the confirmation of the address."""
LINK_LIFETIME = timedelta(hours=24)
MAX_DETAILS = 2000
MAX_REASON = 2000


class RequestError(Exception):
    """The step cannot be taken; the message says why (shown to the admin)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- the public page


def account_of_page(session: DbSession, slug: str) -> Account | None:
    """The account whose public request page has this slug (random: it names no account)."""
    return session.scalar(select(Account).where(Account.request_slug == slug))


def submit(
    session: DbSession,
    mailer: Mailer,
    settings: Settings,
    account: Account,
    *,
    email: str,
    kind: RequestKind,
    details: str,
    language: str,
    now: datetime | None = None,
) -> None:
    """Mail the confirmation link, then store the unconfirmed request. Raises :class:`MailError`.

    The mail goes first so that a failed mail leaves nothing behind; the form (validated by the
    view) is taken as it is.
    """
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    link = f"{settings.public_url}/data-requests/confirm/{token}"
    mailer.send(
        mails.confirmation(email, account.name, kind, link=link, language=language, lifetime=LINK_LIFETIME)
    )
    with unit_of_work(session) as work:
        request = SubjectRequest(
            account_id=account.id,
            kind=kind.value,
            state=RequestState.UNCONFIRMED.value,
            email=email.strip(),
            details=details.strip()[:MAX_DETAILS],
            language=language,
            token_hash=token_hash(token),
            token_expires_at=moment + LINK_LIFETIME,
            received_at=moment,
        )
        work.add(request)
        work.flush()
        audit.record(
            work,
            account.id,
            AuditAction.DATA_REQUEST_RECEIVED,
            actor_user_id=None,
            detail={"request_id": request.id, "kind": kind.value},
            now=moment,
        )


@dataclass(frozen=True)
class Confirmed:
    account_name: str
    due_at: datetime


def confirm(session: DbSession, token: str, now: datetime | None = None) -> Confirmed | None:
    """Open the request the link belongs to; None for an unknown, used or expired link."""
    moment = now or utcnow()
    with unit_of_work(session) as work:
        request = work.scalar(
            select(SubjectRequest).where(SubjectRequest.token_hash == token_hash(token)).with_for_update()
        )
        if (
            request is None
            or request.state != RequestState.UNCONFIRMED.value
            or request.token_expires_at is None
            or request.token_expires_at <= moment
        ):
            return None
        request.state = RequestState.OPEN.value
        request.token_hash, request.token_expires_at = None, None
        request.verified_at = moment
        request.due_at = moment + DEADLINE
        audit.record(
            work,
            request.account_id,
            AuditAction.DATA_REQUEST_VERIFIED,
            actor_user_id=None,
            detail={"request_id": request.id, "kind": request.kind, "due": request.due_at.date().isoformat()},
            now=moment,
        )
        account = work.get_one(Account, request.account_id)
        return Confirmed(account.name, request.due_at)


# ---------------------------------------------------------------- what the admins see


def days_left(request: SubjectRequest, now: datetime) -> int | None:
    """Whole days until the deadline, rounded up (0 or less: due today or overdue)."""
    if request.due_at is None:
        return None
    seconds = (request.due_at - now).total_seconds()
    return -int(-seconds // 86400)


def is_overdue(request: SubjectRequest, now: datetime) -> bool:
    return request.state == RequestState.OPEN.value and request.due_at is not None and request.due_at <= now


def matching_contacts(session: DbSession, account_id: int, email: str) -> list[CrmContact]:
    """The account's contacts holding ``email`` (ignoring case), including those still in an undo window."""
    wanted = email.strip().casefold()
    if not wanted:
        return []
    candidates = session.scalars(
        select(CrmContact)
        .where(
            CrmContact.account_id == account_id,
            CrmContact.search_text.like(f"%{_escape_like(wanted)}%", escape="\\"),
        )
        .order_by(CrmContact.id)
    )
    now = utcnow()
    return [
        row
        for row in candidates
        if (not row.deleted or (row.undo_until is not None and row.undo_until > now))
        and any(item.value.casefold() == wanted for item in to_contact_data(row).emails)
    ]


def requests_of(session: DbSession, account_id: int) -> list[SubjectRequest]:
    """The account's confirmed requests: open ones by deadline, then closed ones newest first."""
    rows = list(
        session.scalars(
            select(SubjectRequest).where(
                SubjectRequest.account_id == account_id,
                SubjectRequest.state != RequestState.UNCONFIRMED.value,
            )
        )
    )
    open_rows = sorted((r for r in rows if r.state == RequestState.OPEN.value), key=lambda r: r.id)
    open_rows.sort(key=lambda r: r.due_at or r.received_at)
    closed = sorted((r for r in rows if r.state != RequestState.OPEN.value), key=lambda r: -r.id)
    return open_rows + closed


def get_request(session: DbSession, account_id: int, request_id: int) -> SubjectRequest | None:
    """A confirmed request of the account (an unconfirmed one is nobody's business yet)."""
    request = session.get(SubjectRequest, request_id)
    if request is None or request.account_id != account_id or request.state == RequestState.UNCONFIRMED.value:
        return None
    return request


def view(
    session: DbSession, request: SubjectRequest, admin_user_id: int, now: datetime | None = None
) -> None:
    """Record that an admin looked at a person's request (each look, as for any read of personal data)."""
    with unit_of_work(session) as work:
        audit.record(
            work,
            request.account_id,
            AuditAction.DATA_REQUEST_VIEWED,
            actor_user_id=admin_user_id,
            detail={"request_id": request.id, "kind": request.kind},
            now=now or utcnow(),
        )


# ---------------------------------------------------------------- answering


def _open(request: SubjectRequest) -> None:
    if request.state != RequestState.OPEN.value:
        raise RequestError(_("This request is already closed."))


def _close(
    session: DbSession,
    request: SubjectRequest,
    state: RequestState,
    admin_user_id: int,
    *,
    contacts: int,
    reason: str,
    now: datetime,
) -> None:
    with unit_of_work(session) as work:
        request.state = state.value
        request.closed_at, request.closed_by = now, audit.actor_of(admin_user_id)
        request.contacts_affected, request.reason = contacts, reason
        # Data minimisation: the address and the person's words were needed only to answer.
        request.email, request.details = "", ""
        action = (
            AuditAction.DATA_REQUEST_FULFILLED
            if state is RequestState.FULFILLED
            else AuditAction.DATA_REQUEST_REJECTED
        )
        detail: dict[str, str | int | bool | None] = {"request_id": request.id, "kind": request.kind}
        if state is RequestState.FULFILLED:
            detail["contacts"] = contacts
        audit.record(work, request.account_id, action, actor_user_id=admin_user_id, detail=detail, now=now)


def _send(mailer: Mailer, mail: Mail) -> None:
    try:
        mailer.send(mail)
    except MailError as exc:
        raise RequestError(
            _(
                "The e-mail to the requester could not be sent (%(error)s); the request stays open.",
                error=str(exc),
            )
        ) from exc


def contact_export(contacts: Sequence[CrmContact]) -> str:
    """What the CRM account holds about the person, as GroupSync keeps it: one JSON document."""
    return json.dumps(
        [crm_services.contact_payload(to_contact_data(row)) for row in contacts],
        ensure_ascii=False,
        indent=2,
        sort_keys=True,
    )


def fulfil(
    session: DbSession,
    mailer: Mailer,
    request: SubjectRequest,
    admin_user_id: int,
    *,
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Answer the request as asked; returns how many contacts it covered. Raises :class:`RequestError`.

    * access: the contacts holding the address are mailed to it (JSON in the mail);
    * correction: the admin has corrected the contacts in the CRM (GroupSync takes its copy
      from there) and says what changed in ``note``, which is mailed to the requester;
    * deletion: the contacts are deleted and erased through the CRM's delete service, with no
      undo window, so every member's Google group loses them at its next sync.
    """
    _open(request)
    moment = now or utcnow()
    account = session.get_one(Account, request.account_id)
    contacts = matching_contacts(session, request.account_id, request.email)
    kind = RequestKind(request.kind)
    note = note.strip()[:MAX_REASON]
    if kind is RequestKind.CORRECTION and not note:
        raise RequestError(_("Say what was corrected: the requester receives this note."))
    count = len(contacts)
    if kind is RequestKind.DELETION and contacts:
        crm_services.delete_contacts(
            session,
            request.account_id,
            [row.crm_id for row in contacts],
            f"data_request:{request.id}",
            erase=True,
        )
        # Kept before the mail: a retry after a failed mail finds nothing left but still says how many.
        with unit_of_work(session):
            request.contacts_affected = count
    count = max(count, request.contacts_affected)
    export = contact_export(contacts) if kind is RequestKind.ACCESS else ""
    _send(mailer, mails.answer(request, account.name, count, note, export))
    _close(session, request, RequestState.FULFILLED, admin_user_id, contacts=count, reason=note, now=moment)
    return count


def reject(
    session: DbSession,
    mailer: Mailer,
    request: SubjectRequest,
    admin_user_id: int,
    *,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Refuse the request with a reason the requester receives. Raises :class:`RequestError`."""
    _open(request)
    reason = reason.strip()[:MAX_REASON]
    if not reason:
        raise RequestError(_("Give the reason: the requester receives it."))
    account = session.get_one(Account, request.account_id)
    _send(mailer, mails.rejection(request, account.name, reason))
    _close(
        session, request, RequestState.REJECTED, admin_user_id, contacts=0, reason=reason, now=now or utcnow()
    )
