"""Deletion receipts a stranger can check: the receipt, its canonical bytes, and an Ed25519 signature.

The document handed out is::

    {"format": "groupsync-signed-receipt/1",
     "receipt": {...},              # the receipt, for reading
     "signed": "<canonical JSON>",  # exactly the bytes the signature covers (UTF-8)
     "signature": {"algorithm": "Ed25519", "key_id": "<hex>", "value": "<base64>"},
     "public_key_url": "https://…/privacy/receipt-key.pem"}

``signed`` is the receipt in canonical form (keys sorted, no spaces, UTF-8), so anyone can
check it with the public key alone (docs/user-data.md shows how with ``openssl``), and check
that ``json.loads(signed) == receipt``. The key is the receipt key of
:meth:`app.ledger.signing.Signer.for_receipts`, never the ledger key. GroupSync keeps no copy:
the document lives in the browser's signed session cookie of whoever asked, until they close it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.config import Settings
from app.ledger.chain import canonical
from app.ledger.signing import Signer, SigningKeyError, load_public_key, public_pem, signature_valid

FORMAT = "groupsync-signed-receipt/1"


@dataclass(frozen=True)
class SignedReceipt:
    receipt: dict[str, Any]
    signature: str | None
    """``None`` when no receipt key is set (production needs ``GROUPSYNC_RECEIPT_SIGNING_KEY_FILE``)."""
    key_id: str | None

    def document(self, public_key_url: str) -> dict[str, Any]:
        signed = canonical(self.receipt).decode("utf-8")
        return {
            "format": FORMAT,
            "receipt": self.receipt,
            "signed": signed if self.signature else None,
            "signature": {"algorithm": "Ed25519", "key_id": self.key_id, "value": self.signature}
            if self.signature
            else None,
            "public_key_url": public_key_url,
        }

    def to_session(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "signature": self.signature, "key_id": self.key_id}

    @classmethod
    def from_session(cls, stored: object) -> SignedReceipt | None:
        if not isinstance(stored, Mapping) or not isinstance(stored.get("receipt"), Mapping):
            return None
        return cls(dict(stored["receipt"]), stored.get("signature"), stored.get("key_id"))

    @property
    def deleted_at(self) -> datetime:
        return datetime.fromisoformat(str(self.receipt["deleted_at"]))


def sign(receipt: dict[str, Any], settings: Settings) -> SignedReceipt:
    """Sign with the receipt key; without one configured the receipt goes out unsigned (and says so)."""
    try:
        signer = Signer.for_receipts(settings)
    except SigningKeyError:
        return SignedReceipt(receipt, None, None)
    return SignedReceipt(receipt, signer.sign(receipt), signer.key_id)


def public_key_pem(settings: Settings) -> str | None:
    try:
        return public_pem(Signer.for_receipts(settings).public_key)
    except SigningKeyError:
        return None


def verify(document: Mapping[str, Any], public_key_pem_bytes: bytes) -> bool:
    """True when ``signed`` carries a valid signature by that key and says the same as ``receipt``."""
    signed, signature = document.get("signed"), document.get("signature")
    if not isinstance(signed, str) or not isinstance(signature, Mapping):
        return False
    try:
        payload = json.loads(signed)
        value = str(signature.get("value", ""))
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    if payload != document.get("receipt") or canonical(payload).decode("utf-8") != signed:
        return False
    return signature_valid(load_public_key(public_key_pem_bytes), payload, value)
