"""Ed25519 keys for ledger checkpoints.

The private key lives in a file named by ``GROUPSYNC_LEDGER_SIGNING_KEY_FILE``; in production
only the process that makes checkpoints (the scheduler or the CLI) should be able to read it.
Demo and test installations without that setting get a key generated in the instance folder.
Verifiers need only the public key.

The same machinery signs deletion receipts with a second key (``GROUPSYNC_RECEIPT_SIGNING_KEY_FILE``,
:meth:`Signer.for_receipts`): the web process hands out receipts and must not hold the ledger key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.config import Settings
from app.ledger import chain

GENERATED_KEY_NAME = "ledger-signing-key.pem"
GENERATED_RECEIPT_KEY_NAME = "receipt-signing-key.pem"


class SigningKeyError(Exception):
    """The signing key is not configured, unreadable or not an Ed25519 key."""


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SigningKeyError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the public key is not an Ed25519 key")
    return key


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"ledger signing key {path} cannot be read: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"ledger signing key {path} is not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"ledger signing key {path} is not an Ed25519 key")
        return cls(key)

    @classmethod
    def for_settings(cls, settings: Settings, *, create: bool = True) -> Signer:
        """The configured key; demo and test mode generate one in the instance folder when ``create``."""
        return cls._configured_or_generated(
            settings,
            settings.ledger_signing_key_file,
            GENERATED_KEY_NAME,
            "GROUPSYNC_LEDGER_SIGNING_KEY_FILE is required to sign ledger checkpoints",
            create=create,
        )

    @classmethod
    def for_receipts(cls, settings: Settings, *, create: bool = True) -> Signer:
        """The key that signs deletion receipts (never the ledger key)."""
        return cls._configured_or_generated(
            settings,
            settings.receipt_signing_key_file,
            GENERATED_RECEIPT_KEY_NAME,
            "GROUPSYNC_RECEIPT_SIGNING_KEY_FILE is required to sign deletion receipts",
            create=create,
        )

    @classmethod
    def _configured_or_generated(
        cls, settings: Settings, configured: Path | None, generated_name: str, missing: str, *, create: bool
    ) -> Signer:
        if configured is not None:
            return cls.from_file(configured)
        if not settings.mode.relaxed:
            raise SigningKeyError(missing)
        path = settings.instance_path / generated_name
        if not path.exists():
            if not create:
                raise SigningKeyError(f"no signing key has been generated at {path} yet")
            _write_new_key(path)
        return cls.from_file(path)

    def sign(self, payload: Mapping[str, Any]) -> str:
        return base64.b64encode(self._private.sign(chain.canonical(payload))).decode("ascii")


def _write_new_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written owner-only under a private name, then linked into place: a racing process either
    # wins the link or finds a complete key, never a half-written one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def signature_valid(public_key: Ed25519PublicKey, payload: Mapping[str, Any], signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), chain.canonical(payload))
    except (InvalidSignature, ValueError):
        return False
    return True
