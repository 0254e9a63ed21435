"""The contact value objects, under the name the CRM domain and the sync engine have long imported.

They and the field table they declare live in :mod:`app.contact_fields`, below every layer that
uses them; new code imports them from there.
"""

from __future__ import annotations

from app.contact_fields import Birthday, ContactData, Messenger, PostalAddress, TypedValue

__all__ = ["Birthday", "ContactData", "Messenger", "PostalAddress", "TypedValue"]
