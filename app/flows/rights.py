"""Deleting a person's data, or a whole account: revoke Google access first, then erase.

Order: the last-admin rule is checked before anything changes (privacy); every Google
connection in scope is disconnected, each committed on its own (:mod:`app.flows.connections`);
then the rows are erased in one transaction that checks the rule again (privacy). Should the
erasure fail, running the deletion again finishes it: the connections are already disconnected.
"""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import Account
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.flows.connections import disconnect_all
from app.google.models import GoogleConnection, StatusReason
from app.google.vault import TokenVault
from app.privacy import rights
from app.privacy.rights import Receipt, Subject


def delete_user_data(
    session: DbSession, subject: Subject, *, settings: Settings, vault: TokenVault
) -> Receipt:
    """Disconnect and revoke at Google, then delete the person's rows (all at once) and record it.

    Refused with :class:`~app.privacy.rights.RightsError`, before anything changes, when the
    person is the last admin of an account in scope.
    """
    with unit_of_work(session) as work:
        rights.refuse_last_admin(work, subject)
    reason = StatusReason.DISCONNECTED_BY_USER if subject.by_self else StatusReason.DISCONNECTED_BY_ADMIN
    mine = select(GoogleConnection).where(GoogleConnection.user_id == subject.user_id)
    if not subject.whole_person:
        mine = mine.where(GoogleConnection.account_id.in_(subject.account_ids))
    connections = list(session.scalars(mine))
    revocations = disconnect_all(session, connections, subject.actor, reason, settings=settings, vault=vault)
    return rights.erase_user_data(session, subject, revocations)


def delete_account(
    session: DbSession, account: Account, actor: str, *, settings: Settings, vault: TokenVault
) -> Receipt:
    """Delete a tenant: disconnect every member first, then every row of the account; the ledger stays."""
    account_id = account.id
    connections = list(
        session.scalars(select(GoogleConnection).where(GoogleConnection.account_id == account_id))
    )
    revocations = disconnect_all(
        session, connections, actor, StatusReason.DISCONNECTED_BY_ADMIN, settings=settings, vault=vault
    )
    return rights.erase_account(session, account_id, actor, revocations)
