"""Per-account CRM settings an admin chooses (the default phone region)."""

from __future__ import annotations

from app.crm.models import CrmSettings
from app.crm.validation import check_region
from app.db import DbSession, unit_of_work


def default_region(session: DbSession, account_id: int) -> str | None:
    settings = session.get(CrmSettings, account_id)
    return settings.default_phone_region if settings else None


def set_default_region(session: DbSession, account_id: int, value: str) -> str | None:
    """Set (or clear, with an empty value) the region used for numbers without a leading +."""
    region = check_region(value) if value.strip() else None
    with unit_of_work(session):
        settings = session.get(CrmSettings, account_id) or CrmSettings(account_id=account_id)
        settings.default_phone_region = region
        session.add(settings)
    return region
