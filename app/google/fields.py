"""The Person fields GroupSync owns: the mapping writes exactly these, and the People client lets
an update send or mask nothing else (what the user added in Google survives every update)."""

from __future__ import annotations

from typing import Final

OWNED_FIELDS: Final[tuple[str, ...]] = (
    "names",
    "organizations",
    "emailAddresses",
    "phoneNumbers",
    "birthdays",
    "biographies",
    "addresses",
    "imClients",
    "urls",
)
