"""Reading the ledger: reviewer filters, per-period summaries, and the incident listing.

Nothing here scopes by tenant: views hand the statements to ``app.accounts.tenancy.scoped``;
the CLI (an operator's tool) reads every chain.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select

from app.accounts.models import Account, User
from app.db import DbSession
from app.extensions import N_, stored_message
from app.ledger.events import Destination, EventTag, Purpose
from app.ledger.models import LedgerEntry
from app.ledger.services import REQUEST_ID

E = TypeVar("E", Purpose, EventTag)
T = TypeVar("T")

DELETION_TAGS = (EventTag.DATA_DELETED.value, EventTag.CONNECTION_REVOKED.value)


class FilterError(ValueError):
    """Filter values are malformed. ``str()`` names each by its query argument (the CLI's option);
    ``problems`` say the same as stored messages naming the form's fields, for the pages."""

    def __init__(self, text: str, problems: list[str]) -> None:
        super().__init__(text)
        self.problems = problems


_MOMENT_PROBLEM = {
    "from": N_("From must be a date (YYYY-MM-DD) or an ISO date-time, not “%(value)s”."),
    "to": N_("To must be a date (YYYY-MM-DD) or an ISO date-time, not “%(value)s”."),
}
_FIELD = {"purpose": N_("Purpose"), "tag": N_("Event")}


@dataclass(frozen=True)
class LedgerFilter:
    user_id: int | None = None
    purpose: Purpose | None = None
    tag: EventTag | None = None
    method: str | None = None
    outcome: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    """Exclusive."""

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> LedgerFilter:
        """Read the reviewer's query string; empty fields mean "any"."""
        values = {k: v.strip() for k, v in args.items() if isinstance(v, str) and v.strip()}
        # Every bad value is named at once, so one correction is enough.
        found: list[FilterError] = []

        def checked(read: Callable[[], T]) -> T | None:
            try:
                return read()
            except FilterError as exc:
                found.append(exc)
                return None

        user = values.get("user")
        if user is not None and not user.isdigit():
            found.append(
                FilterError(
                    f"user must be a user id (a whole number), got {user!r}",
                    [stored_message(N_("User id must be a whole number, not “%(value)s”."), value=user)],
                )
            )
        start = checked(lambda: parse_moment(values["from"], "from")) if "from" in values else None
        end = checked(lambda: parse_moment(values["to"], "to", end_of_day=True)) if "to" in values else None
        if start and end and end <= start:
            found.append(
                FilterError("to must be later than from", [stored_message(N_("To must be later than From."))])
            )
        purpose = checked(lambda: _choice(Purpose, values.get("purpose"), "purpose"))
        tag = checked(lambda: _choice(EventTag, values.get("tag"), "tag"))
        if found:
            raise FilterError("; ".join(map(str, found)), [p for exc in found for p in exc.problems])
        return cls(
            user_id=int(user) if user is not None else None,
            purpose=purpose,
            tag=tag,
            method=values.get("method"),
            outcome=values.get("outcome"),
            start=start,
            end=end,
        )

    def statement(self) -> Select[LedgerEntry]:
        stmt = select(LedgerEntry)
        if self.user_id is not None:
            stmt = stmt.where(LedgerEntry.user_id == self.user_id)
        if self.purpose is not None:
            stmt = stmt.where(LedgerEntry.purpose == self.purpose.value)
        if self.tag is not None:
            stmt = stmt.where(LedgerEntry.tag == self.tag.value)
        if self.method is not None:
            stmt = stmt.where(LedgerEntry.method == self.method)
        if self.outcome is not None:
            stmt = stmt.where(LedgerEntry.outcome == self.outcome)
        if self.start is not None:
            stmt = stmt.where(LedgerEntry.recorded_at >= self.start)
        if self.end is not None:
            stmt = stmt.where(LedgerEntry.recorded_at < self.end)
        return stmt.order_by(LedgerEntry.recorded_at.desc(), LedgerEntry.id.desc())

    def query_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for export links that keep it)."""
        args = {
            "user": str(self.user_id) if self.user_id is not None else "",
            "purpose": self.purpose.value if self.purpose else "",
            "tag": self.tag.value if self.tag else "",
            "method": self.method or "",
            "outcome": self.outcome or "",
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }
        return {k: v for k, v in args.items() if v}


def parse_moment(text: str, name: str, *, end_of_day: bool = False) -> datetime:
    """A date (``2026-11-23``) or an ISO date-time; naive values are UTC.

    A bare date as an upper bound means the end of that day, which is what a person typing
    ``to=2026-11-30`` expects.
    """
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problem = _MOMENT_PROBLEM.get(
            name, N_("Must be a date (YYYY-MM-DD) or an ISO date-time, not “%(value)s”.")
        )
        raise FilterError(
            f"{name} must be a date (YYYY-MM-DD) or an ISO date-time, got {text!r}",
            [stored_message(problem, value=text)],
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _choice(kind: type[E], value: str | None, name: str) -> E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        problem = N_("%(field)s must be one of %(allowed)s, not “%(value)s”.")
        raise FilterError(
            f"{name} must be one of {allowed}, got {value!r}",
            [stored_message(problem, field=stored_message(_FIELD[name]), allowed=allowed, value=value)],
        ) from None


@dataclass
class PeriodSummary:
    period: str
    flows: int = 0
    records: int = 0
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_destination: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Deletion:
    recorded_at: datetime
    tag: str
    user_id: int | None
    outcome: str
    records: int


@dataclass
class Summary:
    periods: list[PeriodSummary]
    destinations: Counter[str]
    deletions: list[Deletion]
    requests_without_outcome: int = 0
    """Google requests recorded ahead whose outcome is not in the selection (a process ended mid-request)."""

    @property
    def third_party_flows(self) -> int:
        """Flows whose destination is neither Google nor GroupSync's own store: must be zero."""
        allowed = {d.value for d in Destination}
        return sum(n for dest, n in self.destinations.items() if dest not in allowed)


def summarize(session: DbSession, stmt: Select[LedgerEntry]) -> Summary:
    """Monthly flows by purpose, data category and destination, plus every deletion honoured."""
    periods: dict[str, PeriodSummary] = {}
    destinations: Counter[str] = Counter()
    deletions: list[Deletion] = []
    # A Google request counts once: by its outcome, or by its started entry if no outcome was recorded.
    awaiting: dict[str, LedgerEntry] = {}

    def count(entry: LedgerEntry) -> None:
        label = entry.recorded_at.strftime("%Y-%m")
        summary = periods.setdefault(label, PeriodSummary(label))
        summary.flows += 1
        summary.records += entry.records
        summary.by_purpose[entry.purpose] += 1
        summary.by_destination[entry.destination] += 1
        for category in json.loads(entry.categories):
            summary.by_category[category] += 1
        destinations[entry.destination] += 1
        if entry.tag in DELETION_TAGS:
            deletions.append(
                Deletion(entry.recorded_at, entry.tag, entry.user_id, entry.outcome, entry.records)
            )

    for entry in session.scalars(stmt.order_by(None).order_by(LedgerEntry.recorded_at)).yield_per(1000):
        if entry.tag == EventTag.GOOGLE_REQUEST_STARTED:
            awaiting[request_id(entry)] = entry
            continue
        if entry.tag == EventTag.GOOGLE_REQUEST:
            awaiting.pop(request_id(entry), None)
        count(entry)
    for entry in awaiting.values():
        count(entry)
    return Summary(list(periods.values()), destinations, deletions, len(awaiting))


def request_id(entry: LedgerEntry) -> str:
    """The id pairing a Google request's started and outcome entries (empty for other entries)."""
    return str(json.loads(entry.detail).get(REQUEST_ID, ""))


@dataclass(frozen=True)
class IncidentRow:
    account_id: int | None
    account_name: str | None
    user_id: int | None
    user_email: str | None
    flows: int
    first: datetime
    last: datetime


def incident(session: DbSession, start: datetime, end: datetime) -> list[IncidentRow]:
    """Accounts and users whose Google data flowed in ``[start, end)``, for breach notification.

    Names and addresses come from the live tables; a deleted account or user shows as its
    bare id, which is all the ledger keeps. A Google request counts by its outcome entry, or
    by its started entry when no outcome was recorded (Google may still have received it).
    """
    flowed = or_(LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value, LedgerEntry.categories != "[]")
    window = (LedgerEntry.recorded_at >= start, LedgerEntry.recorded_at < end)
    rows: Any = session.execute(
        select(
            LedgerEntry.account_id,
            LedgerEntry.user_id,
            func.count(LedgerEntry.id),
            func.min(LedgerEntry.recorded_at),
            func.max(LedgerEntry.recorded_at),
        )
        .where(flowed, LedgerEntry.tag != EventTag.GOOGLE_REQUEST_STARTED.value, *window)
        .group_by(LedgerEntry.account_id, LedgerEntry.user_id)
    )
    found: dict[tuple[int | None, int | None], tuple[int, datetime, datetime]] = {
        (account_id, user_id): (flows, first, last) for account_id, user_id, flows, first, last in rows
    }
    for entry in _unfinished_requests(session, start, end):
        key = (entry.account_id, entry.user_id)
        flows, first, last = found.get(key, (0, entry.recorded_at, entry.recorded_at))
        found[key] = (flows + 1, min(first, entry.recorded_at), max(last, entry.recorded_at))
    account_ids = {account_id for account_id, _ in found if account_id is not None}
    user_ids = {user_id for _, user_id in found if user_id is not None}
    names = select(Account.id, Account.name).where(Account.id.in_(account_ids))
    accounts: dict[int, str] = {row[0]: row[1] for row in session.execute(names)}
    emails = select(User.id, User.email).where(User.id.in_(user_ids))
    users: dict[int, str] = {row[0]: row[1] for row in session.execute(emails)}
    rows_out = []
    for account_id, user_id in sorted(
        found, key=lambda k: (k[0] is None, k[0] or 0, k[1] is None, k[1] or 0)
    ):
        name = accounts.get(account_id) if account_id is not None else None
        email = users.get(user_id) if user_id is not None else None
        rows_out.append(IncidentRow(account_id, name, user_id, email, *found[(account_id, user_id)]))
    return rows_out


REQUEST_OUTCOME_GRACE = timedelta(hours=1)
"""How long after a request started its outcome may be recorded (far above any timeout and pacing wait)."""


def _unfinished_requests(session: DbSession, start: datetime, end: datetime) -> list[LedgerEntry]:
    started = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.tag == EventTag.GOOGLE_REQUEST_STARTED.value,
            LedgerEntry.recorded_at >= start,
            LedgerEntry.recorded_at < end,
        )
    ).all()
    if not started:
        return []
    ended = {
        str(json.loads(detail).get(REQUEST_ID, ""))
        for detail in session.scalars(
            select(LedgerEntry.detail).where(
                LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value,
                LedgerEntry.recorded_at >= start,
                LedgerEntry.recorded_at < end + REQUEST_OUTCOME_GRACE,
            )
        )
    }
    return [entry for entry in started if request_id(entry) not in ended]
