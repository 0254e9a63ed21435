"""Where the token vault's keys come from.

A :class:`KeyProvider` hands the vault a data key to encrypt with (and the key id to store
beside the ciphertext) and, given that id, the data key to decrypt with. Two providers:

* :class:`KeyringProvider` — AES-256 keys listed in ``GROUPSYNC_TOKEN_KEYS`` (or its
  ``_FILE``), the first one primary. Retiring a key means removing it from the list after
  ``groupsync keys rotate`` has moved every token to the primary key.
* :class:`EnvelopeProvider` — a fresh data key per encryption, wrapped by a
  :class:`KeyEncryptionKey`. The local implementation wraps with a keyring key; a Cloud KMS
  or Vault transit implementation only has to provide ``wrap``/``unwrap`` and is plugged in
  here, without touching the vault or its callers.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Settings
from app.logs import redactor

KEY_BYTES = 32
NONCE_BYTES = 12
DEMO_KEYRING_FILE = "token-keys.demo"
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class KeyUnavailableError(Exception):
    """A key is missing, malformed or cannot unwrap a data key; the message never holds key material."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes
    wrapped: bytes
    """The data key wrapped by a key-encryption key; empty when ``key_id`` names the key itself."""


class KeyProvider(Protocol):
    @property
    def primary_key_id(self) -> str: ...

    def encryption_key(self) -> DataKey: ...

    def decryption_key(self, key_id: str, wrapped: bytes) -> bytes:
        """Raise :class:`KeyUnavailableError` when ``key_id`` is unknown or ``wrapped`` does not unwrap."""
        ...


class KeyEncryptionKey(Protocol):
    """A key that never leaves its home (a KMS, Vault transit, or this process) and wraps data keys."""

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Raise :class:`KeyUnavailableError` when ``wrapped`` was not produced by this key."""
        ...


def parse_keyring(spec: str) -> tuple[str, dict[str, bytes]]:
    """Parse ``kid:base64key[,kid:base64key...]`` into (primary id, keys); each key must be 32 bytes."""
    keys: dict[str, bytes] = {}
    primary = ""
    for index, item in enumerate(part.strip() for part in spec.split(",")):
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise KeyUnavailableError(f"token key #{index + 1} needs the form 'keyid:base64key'")
        if key_id in keys:
            raise KeyUnavailableError(f"token key id '{key_id}' is listed twice")
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=False)
        except (binascii.Error, ValueError):
            raise KeyUnavailableError(f"token key '{key_id}' is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise KeyUnavailableError(f"token key '{key_id}' must be {KEY_BYTES} bytes (got {len(raw)})")
        keys[key_id] = raw
        primary = primary or key_id
    if not keys:
        raise KeyUnavailableError("no token key configured")
    return primary, keys


def new_key_spec(key_id: str) -> str:
    """A fresh ``kid:base64key`` entry for the keyring."""
    if not _KEY_ID.fullmatch(key_id):
        raise KeyUnavailableError("key id may contain only letters, digits, '.', '_' and '-' (at most 64)")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class KeyringProvider:
    def __init__(self, primary: str, keys: Mapping[str, bytes]) -> None:
        self._primary = primary
        self._keys = dict(keys)

    @classmethod
    def from_spec(cls, spec: str) -> KeyringProvider:
        return cls(*parse_keyring(spec))

    @property
    def primary_key_id(self) -> str:
        return self._primary

    @property
    def keys(self) -> Mapping[str, bytes]:
        return self._keys

    def encryption_key(self) -> DataKey:
        return DataKey(self._primary, self._keys[self._primary], b"")

    def decryption_key(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyUnavailableError(f"token key '{key_id}' is not in the keyring") from None


class LocalKeyEncryptionKey:
    """Wraps data keys with AES-256-GCM under a key held in this process."""

    def __init__(self, key_id: str, key: bytes) -> None:
        self._key_id = key_id
        self._aead = AESGCM(key)

    @property
    def key_id(self) -> str:
        return self._key_id

    def _aad(self) -> bytes:
        return f"groupsync/data-key/{self._key_id}".encode()

    def wrap(self, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, self._aad())

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], self._aad())
        except InvalidTag:
            raise KeyUnavailableError(f"data key does not unwrap under '{self._key_id}'") from None


class EnvelopeProvider:
    def __init__(self, primary: str, keks: Mapping[str, KeyEncryptionKey]) -> None:
        self._primary = primary
        self._keks = dict(keks)

    @classmethod
    def local(cls, keyring: KeyringProvider) -> EnvelopeProvider:
        keks: dict[str, KeyEncryptionKey] = {
            kid: LocalKeyEncryptionKey(kid, key) for kid, key in keyring.keys.items()
        }
        return cls(keyring.primary_key_id, keks)

    @property
    def primary_key_id(self) -> str:
        return self._primary

    def encryption_key(self) -> DataKey:
        data_key = AESGCM.generate_key(bit_length=256)
        return DataKey(self._primary, data_key, self._keks[self._primary].wrap(data_key))

    def decryption_key(self, key_id: str, wrapped: bytes) -> bytes:
        kek = self._keks.get(key_id)
        if kek is None:
            raise KeyUnavailableError(f"key-encryption key '{key_id}' is not configured")
        return kek.unwrap(wrapped)


def demo_keyring(instance_path: Path) -> str:
    """The keyring for demo and test installs without ``GROUPSYNC_TOKEN_KEYS``, kept in the instance folder.

    Production never gets here: configuration refuses to start without a key.
    """
    path = instance_path / DEMO_KEYRING_FILE
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_key_spec(f"demo-{secrets.token_hex(4)}") + "\n")
    return path.read_text(encoding="utf-8").strip()


def provider_for(settings: Settings) -> KeyProvider:
    spec = settings.token_keys or demo_keyring(settings.instance_path)
    keyring = KeyringProvider.from_spec(spec)
    # Logging registered the configured keys at start; a generated demo key is registered here.
    redactor.register(*(base64.b64encode(key).decode() for key in keyring.keys.values()))
    if settings.vault_key_provider == "ENVELOPE":
        return EnvelopeProvider.local(keyring)
    return keyring
