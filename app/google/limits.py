"""Google People API limits and quota costs: the one table the client, planner, pacer and emulator share.

Batch sizes are from the discovery document shipped with google-api-python-client
(``people.v1.json``). Google publishes no quota costs on a documentation page; the unit costs
below are the ones reported by third parties (see ``/work/shared/reference/people-api.md``,
"Quotas"): a batch create or update of up to 200 contacts costs about 6 critical reads and 6
critical writes, a batch delete about 10 writes, and a single call one unit of its bucket.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Sized
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar

T = TypeVar("T")

MAX_BATCH_GET: Final = 200
"""``people.getBatchGet`` and ``contactGroups.batchGet``: resource names per request."""
MAX_BATCH_CREATE: Final = 200
MAX_BATCH_UPDATE: Final = 200
MAX_BATCH_DELETE: Final = 500
MAX_MEMBER_CHANGES: Final = 1000
"""``contactGroups.members.modify``: names to add plus names to remove."""
MAX_PAGE_SIZE: Final = 1000
"""``people.connections.list`` and ``contactGroups.list``."""
MAX_CONTACTS_PER_ACCOUNT: Final = 25_000
"""Google's per-account contact limit (the user's own contacts count too)."""


class Bucket(StrEnum):
    """Google's per-user per-minute quota buckets, named as the 429 error's ``quota_metric`` names them."""

    CRITICAL_READ = "critical_read_requests"
    CRITICAL_WRITE = "critical_write_requests"
    READ = "read_requests"
    """Contact-group reads."""
    WRITE = "write_requests"
    """Contact-group writes, membership changes and deletes."""
    FULL_SYNC_FIRST_PAGE = "full_sync_first_page_requests"
    """The first page of a full ``connections.list``: its own small quota."""

    @property
    def metric(self) -> str:
        return f"people.googleapis.com/{self.value}"

    @classmethod
    def from_metric(cls, metric: str) -> Bucket | None:
        name = metric.rsplit("/", 1)[-1]
        return next((bucket for bucket in cls if bucket.value == name), None)


Cost = Mapping[Bucket, int]
"""Quota units one request uses, per bucket."""

COST_CRITICAL_READ: Final[Cost] = MappingProxyType({Bucket.CRITICAL_READ: 1})
COST_CRITICAL_WRITE: Final[Cost] = MappingProxyType({Bucket.CRITICAL_WRITE: 1})
COST_BATCH_MUTATE: Final[Cost] = MappingProxyType({Bucket.CRITICAL_READ: 6, Bucket.CRITICAL_WRITE: 6})
"""``batchCreateContacts`` / ``batchUpdateContacts`` of up to 200 contacts."""
COST_BATCH_DELETE: Final[Cost] = MappingProxyType({Bucket.WRITE: 10})
COST_GROUP_READ: Final[Cost] = MappingProxyType({Bucket.READ: 1})
COST_WRITE: Final[Cost] = MappingProxyType({Bucket.WRITE: 1})
COST_FULL_SYNC_FIRST_PAGE: Final[Cost] = MappingProxyType(
    {Bucket.CRITICAL_READ: 1, Bucket.FULL_SYNC_FIRST_PAGE: 1}
)
NO_COST: Final[Cost] = MappingProxyType({})
"""Requests outside the People API (token endpoint, revocation, signing certificates)."""

METHOD_COSTS: Final[Mapping[str, Cost]] = MappingProxyType(
    {
        "people.createContact": COST_CRITICAL_WRITE,
        "people.updateContact": COST_CRITICAL_WRITE,
        "people.deleteContact": COST_WRITE,
        "people.get": COST_CRITICAL_READ,
        "people.getBatchGet": COST_CRITICAL_READ,
        "people.connections.list": COST_CRITICAL_READ,
        "people.batchCreateContacts": COST_BATCH_MUTATE,
        "people.batchUpdateContacts": COST_BATCH_MUTATE,
        "people.batchDeleteContacts": COST_BATCH_DELETE,
        "contactGroups.create": COST_WRITE,
        "contactGroups.update": COST_WRITE,
        "contactGroups.delete": COST_WRITE,
        "contactGroups.members.modify": COST_WRITE,
        "contactGroups.get": COST_GROUP_READ,
        "contactGroups.list": COST_GROUP_READ,
        "contactGroups.batchGet": COST_GROUP_READ,
    }
)
"""Quota cost of each People API method GroupSync may call, by its discovery-document name."""


def request_cost(method: str, *, full_listing_start: bool = False) -> Cost:
    """What one request of ``method`` costs; ``full_listing_start``: the first page of a full listing."""
    if method == "people.connections.list" and full_listing_start:
        return COST_FULL_SYNC_FIRST_PAGE
    return METHOD_COSTS.get(method, NO_COST)


def largest_cost(bucket: Bucket) -> int:
    """The most units one request can take from ``bucket``: a per-minute budget below it can never send."""
    return max((cost.get(bucket, 0) for cost in METHOD_COSTS.values()), default=0)


def check_size(method: str, items: Sized, limit: int) -> None:
    """Refuse a batch larger than Google takes, before anything is sent."""
    if len(items) > limit:
        raise ValueError(f"{method} takes at most {limit} items per request (got {len(items)})")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
