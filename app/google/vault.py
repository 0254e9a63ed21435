"""The token vault: the only code that sees key material or OAuth secrets in clear.

Every secret is sealed with AES-256-GCM under a data key from a :class:`KeyProvider`, with a
fresh 96-bit nonce, and with associated data naming the row, the user and the purpose. A
ciphertext copied to another row, another user or another column therefore fails to open.

Stored blob: ``version (1) | wrapped-key length (2, big endian) | wrapped key | nonce (12) |
ciphertext+tag``. The key id is stored in its own column beside the blob.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import AccountCopy
from app.config import Settings
from app.db import unit_of_work
from app.google.domain_models import DomainConnection
from app.google.keys import NONCE_BYTES, KeyProvider, KeyUnavailableError, provider_for
from app.google.models import ConsentRequest, GoogleConnection, StatusReason

log = logging.getLogger(__name__)

_VERSION = 1
_HEADER = struct.Struct(">BH")


class TokenPurpose(StrEnum):
    REFRESH_TOKEN = "refresh_token"
    ACCESS_TOKEN = "access_token"
    PKCE_VERIFIER = "pkce_verifier"
    SERVICE_ACCOUNT_KEY = "service_account_key"
    TOTP_SECRET = "totp_secret"
    """GroupSync's own second factor (app/security), sealed by this one vault."""
    ACCOUNT_COPY = "account_copy"
    """The copy of an account deleted for inactivity (app/flows/inactivity.py)."""


class TokenUnreadableError(Exception):
    """A stored secret cannot be opened. Carries ids only, never ciphertext or plaintext."""

    def __init__(self, table: str, row_id: int, purpose: TokenPurpose, key_id: str | None) -> None:
        self.table = table
        self.row_id = row_id
        self.purpose = purpose
        self.key_id = key_id
        super().__init__(f"{table} {row_id}: {purpose.value} sealed under key '{key_id}' does not open")


@dataclass(frozen=True)
class Binding:
    """What a ciphertext belongs to; it becomes the AEAD associated data."""

    table: str
    row_id: int
    user_id: int
    purpose: TokenPurpose

    def aad(self, key_id: str) -> bytes:
        fields = (f"groupsync/v{_VERSION}", self.table, self.row_id, self.user_id, self.purpose, key_id)
        return "|".join(str(field) for field in fields).encode()


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    already_current: int
    unreadable: int


class TokenVault:
    def __init__(self, provider: KeyProvider) -> None:
        self._provider = provider

    @classmethod
    def for_settings(cls, settings: Settings) -> TokenVault:
        return cls(provider_for(settings))

    @property
    def primary_key_id(self) -> str:
        return self._provider.primary_key_id

    def seal(self, plaintext: str, binding: Binding) -> Sealed:
        data_key = self._provider.encryption_key()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key.key).encrypt(nonce, plaintext.encode(), binding.aad(data_key.key_id))
        header = _HEADER.pack(_VERSION, len(data_key.wrapped))
        return Sealed(data_key.key_id, header + data_key.wrapped + nonce + ciphertext)

    def open(self, sealed: Sealed, binding: Binding) -> str:
        def unreadable() -> TokenUnreadableError:
            return TokenUnreadableError(binding.table, binding.row_id, binding.purpose, sealed.key_id)

        if len(sealed.blob) < _HEADER.size:
            raise unreadable()
        version, wrapped_length = _HEADER.unpack_from(sealed.blob)
        body = sealed.blob[_HEADER.size :]
        if version != _VERSION or len(body) < wrapped_length + NONCE_BYTES:
            raise unreadable()
        wrapped, rest = body[:wrapped_length], body[wrapped_length:]
        try:
            key = self._provider.decryption_key(sealed.key_id, wrapped)
            plaintext = AESGCM(key).decrypt(
                rest[:NONCE_BYTES], rest[NONCE_BYTES:], binding.aad(sealed.key_id)
            )
        except (KeyUnavailableError, InvalidTag, ValueError):
            raise unreadable() from None
        return plaintext.decode()

    # Connection tokens -------------------------------------------------------------------

    @staticmethod
    def _binding(connection: GoogleConnection, purpose: TokenPurpose) -> Binding:
        if connection.id is None:
            raise ValueError("flush the connection before sealing its tokens: its id is part of the binding")
        return Binding(GoogleConnection.__tablename__, connection.id, connection.user_id, purpose)

    def store_refresh_token(self, connection: GoogleConnection, refresh_token: str) -> None:
        sealed = self.seal(refresh_token, self._binding(connection, TokenPurpose.REFRESH_TOKEN))
        connection.refresh_token_ciphertext = sealed.blob
        connection.refresh_token_key_id = sealed.key_id

    def store_access_token(
        self, connection: GoogleConnection, token: str, expires_at: datetime | None
    ) -> None:
        sealed = self.seal(token, self._binding(connection, TokenPurpose.ACCESS_TOKEN))
        connection.access_token_ciphertext = sealed.blob
        connection.access_token_key_id = sealed.key_id
        connection.access_token_expires_at = expires_at

    def refresh_token(self, connection: GoogleConnection) -> str | None:
        if connection.refresh_token_ciphertext is None or connection.refresh_token_key_id is None:
            return None
        sealed = Sealed(connection.refresh_token_key_id, connection.refresh_token_ciphertext)
        return self.open(sealed, self._binding(connection, TokenPurpose.REFRESH_TOKEN))

    def access_token(self, connection: GoogleConnection) -> AccessToken | None:
        if connection.access_token_ciphertext is None or connection.access_token_key_id is None:
            return None
        sealed = Sealed(connection.access_token_key_id, connection.access_token_ciphertext)
        token = self.open(sealed, self._binding(connection, TokenPurpose.ACCESS_TOKEN))
        return AccessToken(token, connection.access_token_expires_at)

    @staticmethod
    def erase(connection: GoogleConnection) -> None:
        connection.refresh_token_ciphertext = None
        connection.refresh_token_key_id = None
        connection.access_token_ciphertext = None
        connection.access_token_key_id = None
        connection.access_token_expires_at = None

    # PKCE verifiers of pending consent requests -----------------------------------------

    @staticmethod
    def _verifier_binding(request: ConsentRequest) -> Binding:
        if request.id is None:
            raise ValueError("flush the consent request before sealing its verifier")
        return Binding(ConsentRequest.__tablename__, request.id, request.user_id, TokenPurpose.PKCE_VERIFIER)

    def store_verifier(self, request: ConsentRequest, verifier: str) -> None:
        sealed = self.seal(verifier, self._verifier_binding(request))
        request.verifier_ciphertext = sealed.blob
        request.verifier_key_id = sealed.key_id

    def verifier(self, request: ConsentRequest) -> str:
        if request.verifier_ciphertext is None or request.verifier_key_id is None:
            raise TokenUnreadableError(
                ConsentRequest.__tablename__, request.id, TokenPurpose.PKCE_VERIFIER, None
            )
        sealed = Sealed(request.verifier_key_id, request.verifier_ciphertext)
        return self.open(sealed, self._verifier_binding(request))

    # A customer's service-account key (Workspace domain connections) --------------------

    @staticmethod
    def _key_binding(connection: DomainConnection) -> Binding:
        if connection.id is None:
            raise ValueError("flush the domain connection before sealing its key")
        # A domain connection belongs to an account, not a user: the account id takes the user's place.
        return Binding(
            DomainConnection.__tablename__,
            connection.id,
            connection.account_id,
            TokenPurpose.SERVICE_ACCOUNT_KEY,
        )

    def store_service_account_key(self, connection: DomainConnection, key_json: str) -> None:
        sealed = self.seal(key_json, self._key_binding(connection))
        connection.key_ciphertext = sealed.blob
        connection.key_key_id = sealed.key_id

    def service_account_key(self, connection: DomainConnection) -> str | None:
        if connection.key_ciphertext is None or connection.key_key_id is None:
            return None
        return self.open(
            Sealed(connection.key_key_id, connection.key_ciphertext), self._key_binding(connection)
        )

    @staticmethod
    def erase_service_account_key(connection: DomainConnection) -> None:
        connection.key_ciphertext = None
        connection.key_key_id = None

    # Copies of accounts deleted for inactivity (app/flows/inactivity.py) -----------------

    @staticmethod
    def _copy_binding(copy: AccountCopy) -> Binding:
        if copy.id is None:
            raise ValueError("flush the account copy before sealing it")
        # The account takes the user's place in the binding, as for a Workspace domain's key.
        return Binding(AccountCopy.__tablename__, copy.id, copy.account_id, TokenPurpose.ACCOUNT_COPY)

    def seal_account_copy(self, copy: AccountCopy, document: str) -> None:
        sealed = self.seal(document, self._copy_binding(copy))
        copy.key_id, copy.blob = sealed.key_id, sealed.blob

    def account_copy(self, copy: AccountCopy) -> str:
        return self.open(Sealed(copy.key_id, copy.blob), self._copy_binding(copy))

    def reseal_account_copy(self, copy: AccountCopy) -> None:
        self.seal_account_copy(copy, self.account_copy(copy))

    # Rotation ----------------------------------------------------------------------------

    def rotate_connection(self, connection: GoogleConnection) -> bool:
        """Re-encrypt the connection's tokens under the primary key; False when they already were."""
        changed = False
        if connection.refresh_token_key_id not in (None, self.primary_key_id):
            refresh_token = self.refresh_token(connection)
            assert refresh_token is not None
            self.store_refresh_token(connection, refresh_token)
            changed = True
        if connection.access_token_key_id not in (None, self.primary_key_id):
            access = self.access_token(connection)
            assert access is not None
            self.store_access_token(connection, access.token, access.expires_at)
            changed = True
        return changed

    def rotate_all(self, session: Session) -> RotationReport:
        """Move every stored secret to the primary key, committing per row; safe to run again.

        A connection whose tokens do not open is flagged for reconnect (its ciphertext is
        kept, so putting a retired key back recovers it) and the run goes on. A pending
        consent request that does not open is dropped: the user starts the connect step again.
        """
        rotated = current = unreadable = 0
        connections = session.scalars(
            select(GoogleConnection).where(GoogleConnection.refresh_token_ciphertext.is_not(None))
        ).all()
        for connection in connections:
            with unit_of_work(session):
                try:
                    changed = self.rotate_connection(connection)
                except TokenUnreadableError as exc:
                    report_unreadable(exc)
                    connection.mark_needs_reconnect(StatusReason.TOKEN_UNREADABLE)
                    unreadable += 1
                else:
                    rotated += changed
                    current += not changed
        for domain in session.scalars(
            select(DomainConnection).where(DomainConnection.key_ciphertext.is_not(None))
        ).all():
            with unit_of_work(session):
                if domain.key_key_id == self.primary_key_id:
                    current += 1
                    continue
                try:
                    key_json = self.service_account_key(domain)
                    assert key_json is not None
                    self.store_service_account_key(domain, key_json)
                except TokenUnreadableError as exc:
                    report_unreadable(exc)
                    unreadable += 1
                else:
                    rotated += 1
        for copy in session.scalars(select(AccountCopy)).all():
            with unit_of_work(session):
                if copy.key_id == self.primary_key_id:
                    current += 1
                    continue
                try:
                    self.reseal_account_copy(copy)
                except TokenUnreadableError as exc:
                    report_unreadable(exc)
                    unreadable += 1
                else:
                    rotated += 1
        for request in session.scalars(select(ConsentRequest)).all():
            with unit_of_work(session):
                if request.verifier_key_id == self.primary_key_id:
                    current += 1
                    continue
                try:
                    self.store_verifier(request, self.verifier(request))
                except TokenUnreadableError as exc:
                    report_unreadable(exc)
                    session.delete(request)
                    unreadable += 1
                else:
                    rotated += 1
        return RotationReport(rotated, current, unreadable)


def report_unreadable(exc: TokenUnreadableError) -> None:
    """The alert for operators: which row and key, never the ciphertext or the secret."""
    log.error(
        "ALERT token vault: %s %s (%s) sealed under key '%s' cannot be decrypted; "
        "the key may be retired or the row damaged",
        exc.table,
        exc.row_id,
        exc.purpose.value,
        exc.key_id,
        extra={"alert": "token_unreadable"},
    )
