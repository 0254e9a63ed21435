"""Connecting and disconnecting a Google account, with what the other domains must do around it.

Connecting: the disclosure is accepted and checked (privacy), then Google's consent screen is
opened (google). Disconnecting: the connection's syncs are turned off first (sync), then
access is revoked at Google and the tokens deleted (google). Each step commits before the
next one talks to Google, so a disconnect interrupted half-way is finished by running it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from app.accounts.models import Membership
from app.config import Settings
from app.db import DbSession, unit_of_work
from app.google import services as google
from app.google.models import ConnectionStatus, DisconnectReceipt, GoogleConnection, StatusReason
from app.google.vault import TokenVault
from app.privacy import disclosure
from app.privacy.disclosure import AcceptedTerms, DisclosureRequiredError
from app.sync.models import ContactSync

__all__ = [
    "AcceptedTerms",
    "DisclosureRequiredError",
    "Overview",
    "disconnect",
    "overview",
    "purge_unused_connections",
    "start_connect",
]


@dataclass(frozen=True)
class Overview:
    """What the user's connection page shows."""

    connection: GoogleConnection | None
    disclosure_accepted: bool
    last_receipt: DisconnectReceipt | None


def overview(session: DbSession, membership: Membership) -> Overview:
    return Overview(
        google.connection_of(session, membership),
        disclosure.has_current_acceptance(session, membership.user_id, membership.account_id),
        google.last_receipt(session, membership),
    )


def start_connect(
    session: DbSession,
    membership: Membership,
    browser_token: str,
    *,
    settings: Settings,
    vault: TokenVault,
    redirect_uri: str,
    accepted: AcceptedTerms | None = None,
) -> str:
    """Store the acceptance the user just gave (if any), check the disclosure in force is
    accepted, then open the consent request; returns Google's consent URL.

    Raises :class:`DisclosureRequiredError`, with nothing stored, when the current disclosure
    is not (or no longer) accepted: nobody is sent to Google before reading it.
    """
    with unit_of_work(session) as work:
        if accepted is not None:
            disclosure.accept(work, membership, accepted)
        if not disclosure.has_current_acceptance(work, membership.user_id, membership.account_id):
            raise DisclosureRequiredError("accept the current disclosure first")
    return google.start_connect(
        session, membership, browser_token, settings=settings, vault=vault, redirect_uri=redirect_uri
    )


def _stop_syncs(session: DbSession, connection: GoogleConnection) -> int:
    """Turn off every sync writing through ``connection``; how many were on."""
    with unit_of_work(session) as work:
        ids = list(
            work.scalars(
                select(ContactSync.id).where(
                    ContactSync.connection_id == connection.id, ContactSync.enabled.is_(True)
                )
            )
        )
        if ids:
            work.execute(
                update(ContactSync)
                .where(ContactSync.id.in_(ids))
                .values(enabled=False)
                .execution_options(synchronize_session="fetch")
            )
    return len(ids)


def disconnect(
    session: DbSession,
    connection: GoogleConnection,
    actor: str,
    *,
    settings: Settings,
    vault: TokenVault,
    reason: StatusReason = StatusReason.DISCONNECTED_BY_USER,
) -> DisconnectReceipt:
    """Stop the connection's syncs, then revoke at Google, delete the tokens and keep a receipt.

    ``actor`` is ``user:<id>`` of whoever asked (the user, or an admin removing them) or
    ``system``. Contacts already written to Google stay there.
    """
    stopped = _stop_syncs(session, connection)
    return google.disconnect(
        session,
        connection,
        google.context_for(connection, actor),
        settings=settings,
        vault=vault,
        reason=reason,
        syncs_stopped=stopped,
    )


def disconnect_all(
    session: DbSession,
    connections: list[GoogleConnection],
    actor: str,
    reason: StatusReason,
    *,
    settings: Settings,
    vault: TokenVault,
) -> dict[int, str]:
    """Disconnect each of ``connections``; account id → how Google's revocation went."""
    outcomes: dict[int, str] = {}
    for connection in connections:
        if connection.status is ConnectionStatus.DISCONNECTED:
            outcomes[connection.account_id] = "already_disconnected"
            continue
        receipt = disconnect(session, connection, actor, settings=settings, vault=vault, reason=reason)
        outcomes[connection.account_id] = receipt.revoke_outcome
    return outcomes


def purge_unused_connections(session: DbSession, *, settings: Settings, vault: TokenVault) -> int:
    """Retention: disconnect (stop syncs, revoke, delete tokens) connections unused for too long,
    and erase the Google e-mail and ``sub`` of connections disconnected for as long.

    Each purge is recorded and committed on its own, so a failure half-way keeps what was
    done. Returns how many connections were disconnected or erased.
    """
    stale = google.stale_connections(session, settings=settings)
    for connection in stale:
        stopped = _stop_syncs(session, connection)
        google.disconnect(
            session,
            connection,
            google.RETENTION_CONTEXT,
            settings=settings,
            vault=vault,
            reason=StatusReason.UNUSED_TOO_LONG,
            syncs_stopped=stopped,
        )
        google.record_purge(session, connection, settings=settings)
    return len(stale) + google.forget_identities(session, settings=settings)
