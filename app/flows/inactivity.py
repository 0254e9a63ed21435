"""Accounts nobody uses: warned, frozen, deleted with a sealed copy kept, the copy destroyed.

The chore (:func:`run`, registered in app/worker/tasks.py) takes each step when its time has
come by the clock it is given; the dates come from :func:`app.accounts.activity.timeline`,
which the admins also see. Each step is taken once (the account or copy row remembers it), so
running the chore again, or late, repeats nothing; each is written to the account's audit log.

1. Warn: the account's admins get an e-mail, and a banner, ``GROUPSYNC_INACTIVE_WARN_DAYS``
   before the freeze. A mail that fails is tried again at the next run; the freeze waits for a
   warning that went out, and comes a full warning period after it.
2. Freeze: syncs stop (app/sync/services.py skips the account), the API answers 403
   ``account_frozen``, pages show how to unfreeze; nothing is deleted.
3. Delete, ``GROUPSYNC_INACTIVE_UNFREEZE_DAYS`` after the freeze: the way an operator deletes an
   account (:func:`app.flows.rights.delete_account`): every Google connection is disconnected
   (its syncs turned off, its token revoked; no contact is deleted at Google), then the rows go.
   In the deleting transaction the rows are copied and sealed by the token vault.
4. Destroy the copy ``GROUPSYNC_INACTIVE_COPY_DAYS`` after the deletion. Until then the operator
   can restore it at the owner's request (``groupsync accounts restore``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import Session

from app.accounts import mails
from app.accounts.activity import timeline
from app.accounts.activity import unfreeze as clear_freeze
from app.accounts.models import Account, AccountCopy, Membership, Role, User
from app.config import Settings
from app.db import DbSession, plain, unit_of_work
from app.flows.connections import disconnect_all
from app.google.models import GoogleConnection, StatusReason
from app.google.vault import TokenVault
from app.ledger.events import Trigger
from app.mail import Mail, Mailer, MailError
from app.privacy import account_copy, rights
from app.privacy.account_copy import Loaded
from app.security import audit
from app.security.audit import AuditAction

log = logging.getLogger(__name__)


class LifecycleError(Exception):
    """A request about an account's lifecycle that cannot be carried out; the message says why."""


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _admins(session: DbSession, account_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.account_id == account_id, Membership.role == Role.ADMIN)
            .order_by(User.id)
        )
    )


def _link(settings: Settings) -> str:
    return f"{settings.public_url}/dashboard"


def _send_all(mailer: Mailer, letters: list[Mail]) -> None:
    for letter in letters:
        mailer.send(letter)


# --------------------------------------------------------------------------- 1. warn


def warn_due(session: DbSession, mailer: Mailer, settings: Settings, now: datetime) -> int:
    quiet_since = now - timedelta(days=settings.inactive_freeze_days - settings.inactive_warn_days)
    due = list(
        session.scalars(
            select(Account)
            .where(
                Account.frozen_at.is_(None),
                Account.inactivity_warned_at.is_(None),
                Account.last_active_at <= quiet_since,
            )
            .order_by(Account.id)
        )
    )
    warned = 0
    for account in due:
        freeze_at = now + timedelta(days=settings.inactive_warn_days)
        delete_at = freeze_at + timedelta(days=settings.inactive_unfreeze_days)
        admins = _admins(session, account.id)
        letters = [
            mails.warning(user, account, freeze_at=freeze_at, delete_at=delete_at, link=_link(settings))
            for user in admins
        ]
        try:
            _send_all(mailer, letters)
        except MailError:
            log.exception("inactivity warning for account %s not sent; tried again next run", account.id)
            continue
        with unit_of_work(session) as work:
            work.refresh(account)
            if account.last_active_at > quiet_since or account.inactivity_warned_at is not None:
                continue  # someone signed in while the mail went out
            account.inactivity_warned_at = now
            audit.record(
                work,
                account.id,
                AuditAction.ACCOUNT_INACTIVITY_WARNED,
                actor_user_id=None,
                detail={
                    "last_active": _day(account.last_active_at),
                    "freeze_on": _day(freeze_at),
                    "delete_on": _day(delete_at),
                    "admins_mailed": len(admins),
                },
                now=now,
            )
        warned += 1
    return warned


# --------------------------------------------------------------------------- 2. freeze


def freeze_due(session: DbSession, mailer: Mailer, settings: Settings, now: datetime) -> int:
    warned = session.scalars(
        select(Account)
        .where(Account.frozen_at.is_(None), Account.inactivity_warned_at.is_not(None))
        .order_by(Account.id)
    )
    frozen = 0
    for account in [a for a in warned if timeline(a, settings).freeze_at <= now]:
        with unit_of_work(session) as work:
            account.frozen_at = now
            delete_at = timeline(account, settings).delete_at
            audit.record(
                work,
                account.id,
                AuditAction.ACCOUNT_FROZEN,
                actor_user_id=None,
                detail={"last_active": _day(account.last_active_at), "delete_on": _day(delete_at)},
                now=now,
            )
        frozen += 1
        letters = [
            mails.frozen(user, account, delete_at=delete_at, link=_link(settings))
            for user in _admins(session, account.id)
        ]
        try:
            _send_all(mailer, letters)
        except MailError:
            # The freeze stands; the banner on every page says the same as the mail would.
            log.exception("notice that account %s was frozen not sent", account.id)
    return frozen


def unfreeze(session: DbSession, membership: Membership, now: datetime) -> bool:
    """An admin unfreezes their account (and withdraws a warning); False when it was not frozen."""
    if membership.role is not Role.ADMIN:
        raise LifecycleError("Only an admin of the account can unfreeze it.")
    with unit_of_work(session) as work:
        account = membership.account
        if account.frozen_at is None and account.inactivity_warned_at is None:
            return False
        was_frozen = account.frozen_at is not None
        clear_freeze(account, now)
        audit.record(
            work,
            account.id,
            AuditAction.ACCOUNT_UNFROZEN,
            actor_user_id=membership.user_id,
            detail={"was_frozen": was_frozen},
            now=now,
        )
    return True


# --------------------------------------------------------------------------- 3. delete, keeping a copy


def _keep_copy(vault: TokenVault, settings: Settings, account_id: int, now: datetime) -> rights.AccountStep:
    def keep(work: Session, chosen: Mapping[Table, ColumnElement[bool]]) -> None:
        text, count = account_copy.dump(work, account_id, chosen)
        until = now + timedelta(days=settings.inactive_copy_days)
        copy = AccountCopy(account_id=account_id, deleted_at=now, expires_at=until, rows=count)
        work.add(copy)
        work.flush()
        vault.seal_account_copy(copy, text)
        audit.record(
            work,
            account_id,
            AuditAction.ACCOUNT_DELETED_INACTIVE,
            actor_user_id=None,
            detail={"rows": count, "copy_until": _day(until)},
            now=now,
        )

    return keep


def delete_account_keeping_copy(
    session: DbSession, account: Account, *, settings: Settings, vault: TokenVault, now: datetime
) -> rights.Receipt:
    """Disconnect every member (no contact deleted at Google), then copy, seal and delete the rows."""
    account_id = account.id
    connections = list(
        session.scalars(select(GoogleConnection).where(GoogleConnection.account_id == account_id))
    )
    revocations = disconnect_all(
        session, connections, "system", StatusReason.DISCONNECTED_BY_ADMIN, settings=settings, vault=vault
    )
    return rights.erase_account(
        session,
        account_id,
        "system",
        revocations,
        trigger=Trigger.SYSTEM,
        before=_keep_copy(vault, settings, account_id, now),
    )


def delete_due(session: DbSession, settings: Settings, vault: TokenVault, now: datetime) -> int:
    cutoff = now - timedelta(days=settings.inactive_unfreeze_days)
    due = list(
        session.scalars(
            select(Account)
            .where(Account.frozen_at.is_not(None), Account.frozen_at <= cutoff)
            .order_by(Account.id)
        )
    )
    for account in due:
        delete_account_keeping_copy(session, account, settings=settings, vault=vault, now=now)
    return len(due)


# --------------------------------------------------------------------------- 4. copies


def copies(session: DbSession) -> list[AccountCopy]:
    return list(session.scalars(select(AccountCopy).order_by(AccountCopy.deleted_at, AccountCopy.id)))


def destroy_expired_copies(session: DbSession, now: datetime) -> int:
    expired = list(session.scalars(select(AccountCopy).where(AccountCopy.expires_at <= now)))
    for copy in expired:
        with unit_of_work(session) as work:
            audit.record(
                work,
                copy.account_id,
                AuditAction.ACCOUNT_COPY_DESTROYED,
                actor_user_id=None,
                detail={"deleted_on": _day(copy.deleted_at), "rows": copy.rows},
                now=now,
            )
            work.delete(copy)
    return len(expired)


def restore(session: DbSession, account_id: int, *, vault: TokenVault, now: datetime) -> Loaded:
    """Put a deleted account back from its copy (the operator, at the owner's request); the copy goes.

    The restored account starts a fresh activity period. Its members' Google connections come
    back disconnected (their tokens were revoked at deletion): each member reconnects.
    """
    with unit_of_work(session) as work:
        copy = work.scalar(select(AccountCopy).where(AccountCopy.account_id == account_id))
        if copy is None:
            raise LifecycleError(f"no copy of account {account_id} is kept (never deleted, or destroyed)")
        text = vault.account_copy(copy)
        loaded = account_copy.load(work, text)
        restored = work.get_one(Account, loaded.account_id)
        clear_freeze(restored, now)
        audit.record(
            work,
            loaded.account_id,
            AuditAction.ACCOUNT_RESTORED,
            actor_user_id=None,
            actor="operator",
            detail={"rows": sum(loaded.rows.values()), "former_id": account_id},
            now=now,
        )
        work.delete(copy)
    plain(session).expire_all()
    return loaded


# --------------------------------------------------------------------------- the chore


def run(session: Session, settings: Settings, now: datetime) -> int:
    """The chore: warn, freeze, delete and destroy copies whose time has come; how many steps in all."""
    mailer = Mailer.for_settings(settings)
    vault = TokenVault.for_settings(settings)
    warned = warn_due(session, mailer, settings, now)
    frozen = freeze_due(session, mailer, settings, now)
    deleted = delete_due(session, settings, vault, now)
    destroyed = destroy_expired_copies(session, now)
    log.info(
        "inactive accounts: %d warned, %d frozen, %d deleted (copy kept), %d copies destroyed",
        warned,
        frozen,
        deleted,
        destroyed,
    )
    return warned + frozen + deleted + destroyed
