"""The Person fields GroupSync owns: the mapping writes exactly these, and the People client lets
an update send or mask nothing else (what the user added in Google survives every update).

Both come from the contact field table (:mod:`app.contact_fields`), as does the ledger's data
category of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from app.contact_fields import CONTACT_FIELDS
from app.ledger.events import DataCategory

OWNED_FIELDS: Final[tuple[str, ...]] = tuple(dict.fromkeys(spec.person_field for spec in CONTACT_FIELDS))
"""In the order the table first names them; several CRM fields may share one (``names``)."""

FIELD_CATEGORIES: Final[Mapping[str, DataCategory]] = {
    spec.person_field: spec.category for spec in CONTACT_FIELDS
}
"""The ledger's data category of each owned Person field."""
