"""The e-mails about an account left unused: the warning before the freeze, and the freeze itself.

Each goes to every admin of the account, in the admin's chosen language, to their notice
address when they set one. The dates are the ones the admins also see on the security page
(:func:`app.accounts.activity.timeline`).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import force_locale

from app.accounts.models import Account, User
from app.extensions import gettext as _
from app.mail import Mail


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _address(user: User) -> str:
    return user.notice_email or user.email


def warning(user: User, account: Account, *, freeze_at: datetime, delete_at: datetime, link: str) -> Mail:
    with force_locale(user.language or "en"):
        body = "\n\n".join(
            [
                _(
                    "Nobody has signed in to the GroupSync account %(account)s (number %(id)s) or used "
                    "its API keys since %(since)s.",
                    account=account.name,
                    id=account.id,
                    since=_day(account.last_active_at),
                ),
                _(
                    "On %(freeze)s the account will be frozen: its syncs stop and its API answers "
                    "with an error; its data is kept. If no admin unfreezes it by %(delete)s, the "
                    "account is deleted with all its data.",
                    freeze=_day(freeze_at),
                    delete=_day(delete_at),
                ),
                _("To keep the account, sign in to GroupSync (or use one of its API keys) before then:"),
                link,
            ]
        )
        subject = _(
            "%(account)s: GroupSync account unused, to be frozen on %(day)s",
            account=account.name,
            day=_day(freeze_at),
        )
        return Mail(_address(user), subject, body)


def frozen(user: User, account: Account, *, delete_at: datetime, link: str) -> Mail:
    with force_locale(user.language or "en"):
        body = "\n\n".join(
            [
                _(
                    "The GroupSync account %(account)s (number %(id)s) has been frozen because nobody "
                    "used it for a long time. Its syncs are stopped and its API answers with an error; "
                    "its data is kept.",
                    account=account.name,
                    id=account.id,
                ),
                _(
                    "An admin can unfreeze it until %(delete)s: sign in and press \u201cUnfreeze the "
                    "account\u201d. After that day the account is deleted with all its data.",
                    delete=_day(delete_at),
                ),
                link,
            ]
        )
        return Mail(_address(user), _("%(account)s: GroupSync account frozen", account=account.name), body)
