"""Where the People API client gets its Google credentials from.

Callers (the sync engine, the People client layer) depend only on :class:`CredentialsSource`.
:class:`UserOAuthCredentialsSource` serves a user's own OAuth connection; a Workspace
domain-wide delegation source (service account impersonating the user) can implement the
same protocol later without any caller changing.

The credentials handed out carry the access token only. The refresh token stays sealed in
the vault: when google-auth needs a new access token it calls back into
:func:`app.google.tokens.refresh`, so every refresh is made by GroupSync, recorded in the
ledger, and stored encrypted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import google.auth.exceptions
from google.oauth2.credentials import Credentials
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import unit_of_work, utcnow
from app.google.endpoints import GoogleEndpoints
from app.google.models import GoogleConnection, StatusReason
from app.google.services import ensure_usable
from app.google.tokens import (
    CallContext,
    RefreshRejectedError,
    Sleep,
    refresh,
)
from app.google.vault import TokenUnreadableError, TokenVault, report_unreadable
from app.ledger.events import Purpose, Trigger

log = logging.getLogger(__name__)


class ConnectionUnusableError(google.auth.exceptions.RefreshError):
    """The connection cannot be used until the user reconnects; ``reason`` says why.

    A ``RefreshError`` so that code driving google-auth (which calls the refresh hook from
    inside a request) sees the failure it expects.
    """

    def __init__(self, connection_id: int, reason: StatusReason) -> None:
        super().__init__(  # type: ignore[no-untyped-call]
            f"Google connection {connection_id} needs reconnecting ({reason.value or 'not connected'})"
        )
        self.connection_id = connection_id
        self.reason = reason


class CredentialsSource(Protocol):
    def credentials_for(self, connection: GoogleConnection) -> Credentials:
        """Credentials for ``connection``'s Google account.

        Raises :class:`~app.google.services.PeopleCallForbiddenError` when no People API
        call may be made for the user (not connected, needs reconnecting; whoever starts a
        run has checked the disclosure before), :class:`ConnectionUnusableError` when the
        stored credentials turn out to be unusable (the connection is then marked "needs
        reconnect") and
        :class:`~app.google.tokens.TokenEndpointUnavailableError` when Google's token
        endpoint is down (the caller tries later).
        """
        ...


class UserOAuthCredentialsSource:
    """Credentials from a user's own OAuth connection, refreshed through GroupSync.

    Token state (a new access token, a "needs reconnect" mark) and the ledger entries for
    it are committed on ``session`` as they happen, so they survive whatever the caller
    later rolls back. Like every caller of Google, the code using these credentials holds no
    uncommitted database writes when a request (and so possibly a refresh) is made.
    """

    def __init__(
        self,
        session: Session,
        vault: TokenVault,
        settings: Settings,
        *,
        purpose: Purpose = Purpose.CONTACT_SYNC,
        trigger: Trigger = Trigger.SYSTEM,
        actor: str = "system",
        sleep: Sleep = time.sleep,
    ) -> None:
        self._session = session
        self._vault = vault
        self._settings = settings
        self._context = CallContext(purpose, trigger, actor)
        self._sleep = sleep

    def credentials_for(self, connection: GoogleConnection) -> Credentials:
        # Google's half of the gate is checked here too: no credentials exist for an unusable connection.
        ensure_usable(connection)
        try:
            access = self._vault.access_token(connection)
        except TokenUnreadableError as exc:
            raise self._unusable(connection, exc) from None
        with unit_of_work(self._session):
            connection.last_used_at = utcnow()
        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=access.token if access is not None else None,
            expiry=_naive_utc(access.expires_at) if access is not None and access.expires_at else None,
            token_uri=GoogleEndpoints.for_settings(self._settings).token_uri,
            client_id=self._settings.google_client_id,
            scopes=sorted(connection.scopes),
        )
        credentials.refresh_handler = self._refresh_handler(connection)
        return credentials

    def _refresh_handler(self, connection: GoogleConnection) -> Any:
        def handler(request: object, scopes: Sequence[str] | None = None) -> tuple[str, datetime]:
            # refresh() commits what it learns (new token, "needs reconnect", ledger entries) itself.
            try:
                access = refresh(
                    self._session, connection, self._vault, self._settings, self._context, sleep=self._sleep
                )
            except RefreshRejectedError:
                raise ConnectionUnusableError(connection.id, StatusReason.ACCESS_REVOKED) from None
            except TokenUnreadableError as exc:
                raise self._unusable(connection, exc) from None
            if access.expires_at is None:
                raise google.auth.exceptions.RefreshError(  # type: ignore[no-untyped-call]
                    "Google's token response carried no expiry"
                )
            return access.token, _naive_utc(access.expires_at)

        return handler

    def _unusable(self, connection: GoogleConnection, exc: TokenUnreadableError) -> ConnectionUnusableError:
        report_unreadable(exc)
        with unit_of_work(self._session, expire_on_commit=False):
            connection.mark_needs_reconnect(StatusReason.TOKEN_UNREADABLE)
        return ConnectionUnusableError(connection.id, StatusReason.TOKEN_UNREADABLE)


def _naive_utc(moment: datetime) -> datetime:
    # google-auth compares expiries with naive UTC datetimes.
    return moment.astimezone(UTC).replace(tzinfo=None)
