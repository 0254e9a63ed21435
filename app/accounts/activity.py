"""When an account was last used, and what that means for its lifecycle (docs/lifecycle.md).

Activity is a person signing in to the account or an API key of the account being used;
scheduled syncs are not activity, since they run by themselves for an account nobody uses.
The time is kept to the hour: a request writes only when the stored time is older than
:data:`GRANULARITY`, so a busy API client costs one UPDATE an hour, not one per call.

:func:`timeline` turns the stored times and the settings into the dates an admin is shown and
the inactivity chore (app/flows/inactivity.py) acts on; both read the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.accounts.models import Account
from app.config import Settings
from app.db import DbSession, unit_of_work, utcnow

GRANULARITY = timedelta(hours=1)


def note_activity(account: Account, now: datetime | None = None) -> bool:
    """Record that the account is in use, at most once per :data:`GRANULARITY`; True when written.

    Activity after a warning withdraws it (the account is no longer going to be frozen); a
    frozen account stays frozen until an admin unfreezes it. The caller's transaction commits it.
    """
    moment = now or utcnow()
    if moment - account.last_active_at < GRANULARITY:
        return False
    account.last_active_at = moment
    if account.frozen_at is None:
        account.inactivity_warned_at = None
    return True


def note_api_use(session: DbSession, account_id: int, now: datetime | None = None) -> Account:
    """An API key of ``account_id`` was used: record it (cheaply) and return the account."""
    account = session.get_one(Account, account_id)
    moment = now or utcnow()
    if account.frozen_at is None and moment - account.last_active_at >= GRANULARITY:
        with unit_of_work(session):
            note_activity(account, moment)
    return account


def is_frozen(session: DbSession, account_id: int) -> bool:
    frozen = session.scalar(select(Account.frozen_at).where(Account.id == account_id))
    return frozen is not None


def frozen_account_ids(session: DbSession) -> list[int]:
    return list(session.scalars(select(Account.id).where(Account.frozen_at.is_not(None))))


@dataclass(frozen=True)
class Timeline:
    """An account's inactivity dates as things stand now (each moves when someone is active)."""

    last_active_at: datetime
    warn_at: datetime
    """When the admins are (or were) warned."""
    freeze_at: datetime
    """When the account is (or was) frozen; never sooner than a full warning period after the warning."""
    delete_at: datetime
    """When the account is deleted with its data unless an admin unfreezes it."""
    copy_until: datetime
    """Until when the sealed copy of the deleted account is kept for restoring."""
    warned_at: datetime | None
    frozen_at: datetime | None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def warned(self) -> bool:
        return self.warned_at is not None and self.frozen_at is None


def timeline(account: Account, settings: Settings) -> Timeline:
    warn_period = timedelta(days=settings.inactive_warn_days)
    warn_at = account.last_active_at + timedelta(days=settings.inactive_freeze_days) - warn_period
    if account.frozen_at is not None:
        freeze_at = account.frozen_at
    else:
        # A warning sent late (the worker was down) still leaves the admins the whole period.
        freeze_at = max(warn_at, account.inactivity_warned_at or warn_at) + warn_period
    delete_at = freeze_at + timedelta(days=settings.inactive_unfreeze_days)
    return Timeline(
        last_active_at=account.last_active_at,
        warn_at=warn_at,
        freeze_at=freeze_at,
        delete_at=delete_at,
        copy_until=delete_at + timedelta(days=settings.inactive_copy_days),
        warned_at=account.inactivity_warned_at,
        frozen_at=account.frozen_at,
    )


def unfreeze(account: Account, now: datetime) -> None:
    """Clear the freeze and the warning; the unfreezing itself counts as activity (caller's transaction)."""
    account.frozen_at = None
    account.inactivity_warned_at = None
    account.last_active_at = now
