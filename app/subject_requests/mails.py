"""The e-mails of data-subject requests, each in its reader's language (the page used, an admin's choice)."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale

from app.extensions import gettext as _
from app.extensions import ngettext
from app.mail import Mail
from app.subject_requests.models import RequestKind, SubjectRequest


def kind_label(kind: RequestKind | str) -> str:
    """The kind in the current language (mails and pages)."""
    labels = {
        RequestKind.ACCESS: _("a copy of the data about you"),
        RequestKind.CORRECTION: _("correction of the data about you"),
        RequestKind.DELETION: _("deletion of the data about you"),
    }
    return labels[RequestKind(kind)]


def confirmation(
    email: str, account_name: str, kind: RequestKind, *, link: str, language: str, lifetime: timedelta
) -> Mail:
    hours = int(lifetime.total_seconds() // 3600)
    with force_locale(language):
        body = "\n\n".join(
            [
                _(
                    "Someone, probably you, asked %(account)s for %(kind)s, giving this e-mail address.",
                    account=account_name,
                    kind=kind_label(kind),
                ),
                _("To confirm that this address is yours and send the request, open this link:"),
                link,
                _(
                    "The link works once and for %(hours)s hours. If you did not ask, ignore this e-mail: "
                    "nothing is sent without the confirmation.",
                    hours=hours,
                ),
            ]
        )
        return Mail(email, _("Confirm your request to %(account)s", account=account_name), body)


def answer(request: SubjectRequest, account_name: str, contacts: int, note: str, export: str) -> Mail:
    """The answer to a fulfilled request; ``export`` is the data itself for an access request."""
    kind = RequestKind(request.kind)
    with force_locale(request.language):
        if kind is RequestKind.ACCESS:
            lines = [
                _(
                    "%(account)s answered your request for a copy of the data about you. Below is "
                    "every contact record that GroupSync holds for %(account)s with your e-mail "
                    "address (%(count)s), as JSON.",
                    account=account_name,
                    count=contacts,
                ),
                export,
            ]
        elif kind is RequestKind.CORRECTION:
            lines = [
                _("%(account)s corrected the data about you. Their note:", account=account_name),
                note,
            ]
        else:
            lines = [
                _(
                    "%(account)s deleted the contact records with your e-mail address (%(count)s). "
                    "They leave the Google Contacts of the account's members at their next sync.",
                    account=account_name,
                    count=contacts,
                )
            ]
        if note and kind is not RequestKind.CORRECTION:
            lines += [_("Their note:"), note]
        subject = _("Your request to %(account)s was answered", account=account_name)
        return Mail(request.email, subject, "\n\n".join(lines))


def rejection(request: SubjectRequest, account_name: str, reason: str) -> Mail:
    with force_locale(request.language):
        body = "\n\n".join(
            [
                _(
                    "%(account)s refused your request for %(kind)s. Their reason:",
                    account=account_name,
                    kind=kind_label(request.kind),
                ),
                reason,
                _(
                    "If you disagree, you may lodge a complaint with a data protection supervisory "
                    "authority, or write to the data-protection contact below."
                ),
            ]
        )
        return Mail(request.email, _("Your request to %(account)s was refused", account=account_name), body)


def reminder(
    address: str, language: str, account_name: str, *, open_requests: int, days: int, link: str
) -> Mail:
    with force_locale(language):
        body = "\n\n".join(
            [
                _(
                    "%(account)s has %(requests)s from people in its CRM due in %(days)s or less. "
                    "The law gives 30 days to answer.",
                    account=account_name,
                    requests=ngettext("%(num)s data request", "%(num)s data requests", open_requests),
                    days=ngettext("%(num)s day", "%(num)s days", days),
                ),
                link,
            ]
        )
        return Mail(address, _("Data requests due soon in %(account)s", account=account_name), body)


def overdue_notice(
    address: str, account_id: int, account_name: str, request_ids: list[int], link: str
) -> Mail:
    """To the operator's data-protection contact (English: it is the operator's own mailbox)."""
    body = "\n\n".join(
        [
            f"Account {account_id} ({account_name}) has not answered data-subject request(s) "
            f"{', '.join(f'#{ident}' for ident in request_ids)} within 30 days of their confirmation.",
            "The account's admins were reminded 7 days and 1 day before. "
            "`groupsync requests overdue` lists every overdue request.",
            link,
        ]
    )
    return Mail(address, f"Overdue data-subject requests in account {account_id}", body)
