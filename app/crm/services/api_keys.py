"""Per-account keys for the CRM-facing API; only the SHA-256 of each secret is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.crm.models import ApiKey
from app.crm.validation import check_name
from app.db import DbSession, unit_of_work, utcnow

API_KEY_PREFIX = "gsk_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class FormAlreadyUsedError(Exception):
    """The create-key form was sent before and its key exists: a reload or a double click."""


def create_api_key(
    session: DbSession, account_id: int, name: str, created_by: int | None, form_token: str | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret; the secret is returned once and only its hash is stored.

    ``form_token`` is the creating form's single-use token (the admin UI's); the unique index
    on its hash makes a second sending of that form fail with :class:`FormAlreadyUsedError`,
    even when both arrive at the same instant.
    """
    label = check_name(name, "name", max_length=100)
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        account_id=account_id,
        name=label,
        prefix=secret[:12],
        secret_hash=_hash_secret(secret),
        created_by=created_by,
        form_token_hash=_hash_secret(form_token) if form_token is not None else None,
    )
    try:
        with unit_of_work(session):
            session.add(key)
    except IntegrityError:
        form_used = key.form_token_hash is not None and session.scalar(
            select(ApiKey.id).where(ApiKey.form_token_hash == key.form_token_hash)
        )
        if not form_used:
            raise
        raise FormAlreadyUsedError from None
    return key, secret


def revoke_api_key(session: DbSession, key: ApiKey) -> None:
    if key.revoked_at is None:
        with unit_of_work(session):
            key.revoked_at = utcnow()


def authenticate_api_key(session: DbSession, secret: str) -> ApiKey | None:
    """The live key whose secret this is; records its use at most once a minute."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == _hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY:
        with unit_of_work(session):
            key.last_used_at = now
    return key


def api_keys(session: DbSession, account_id: int) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at.desc())
        )
    )
