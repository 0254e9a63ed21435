"""Per-Google-account pacing in Google's own quota units.

Google counts People API quota per user per minute in buckets (critical reads, critical
writes, group reads, writes), and one request can take several units: a batch create of 200
contacts costs 6 critical reads and 6 critical writes (:mod:`app.google.limits`). The pacer
keeps, per account and bucket, the units of the last 60 seconds, and lets a request go only
when every bucket it draws on has room for its whole cost — so it never sends a request it
can predict Google will refuse. A sliding window rather than a token bucket lets a small
sync go at full speed and still never puts more than the budget into any 60 seconds (so
none into any calendar minute either, however Google aligns its minutes).

Usage is stamped when the answer arrives, not when the request leaves: Google charged the
request somewhere in between, so counting from the answer can only make the pacer wait a
little longer than needed, never too little.

When Google answers 429 anyway (another process used the same account's quota, or the
budgets are set above the project's real quota), the account is held at least until the
Retry-After the answer gave, and the refused bucket's budget is halved (never below the
largest single request's cost); it then grows back by a tenth of the configured budget per
quiet minute.

The lock is process-local on purpose: it keeps one process from sending two requests for the
same account at once (Google asks for sequential mutations per user). Exclusivity across
processes is the sync engine's database lease, not this module's job. The pacer holds no
database transaction: the transport waits here before it writes the request's ledger entry.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.config import Settings
from app.google.limits import NO_COST, Bucket, Cost, largest_cost

WINDOW_SECONDS = 60.0
DECREASE_FACTOR = 0.5
"""A 429 halves the refused bucket's budget."""
RECOVERY_SHARE = 0.1
"""Each minute without a 429 gives back this share of the configured budget."""
MAX_HOLD_SECONDS = 120.0
"""A Retry-After above this is capped (as the retry policy caps it): one answer cannot park an account."""
MARGIN_SECONDS = 0.05
"""Slack added to every window expiry, for clocks whose rates differ (NTP slews by at most 0.05%).

Usage is stamped when the answer arrives, which is already after Google counted the request,
so no slack is needed for the time a request spends on the way."""


@dataclass
class _Usage:
    budget: float | None
    """Units per window now allowed; ``None``: not paced (no budget configured)."""
    configured: float | None
    floor: float
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    used: int = 0
    recovered_at: float = 0.0

    def expire(self, now: float) -> None:
        while self.sent and self.sent[0][0] <= now - WINDOW_SECONDS:
            self.used -= self.sent.popleft()[1]

    def recover(self, now: float) -> None:
        if self.budget is None or self.configured is None or self.budget >= self.configured:
            self.recovered_at = now
            return
        quiet_minutes = int((now - self.recovered_at) // WINDOW_SECONDS)
        if quiet_minutes > 0:
            step = max(1.0, self.configured * RECOVERY_SHARE)
            self.budget = min(self.configured, self.budget + quiet_minutes * step)
            self.recovered_at += quiet_minutes * WINDOW_SECONDS

    def ready_at(self, units: int, now: float) -> float:
        """When ``units`` more fit in the window (``now`` if they fit already)."""
        if self.budget is None or self.used + units <= self.budget:
            return now
        freed = 0
        for at, spent in self.sent:
            freed += spent
            if self.used - freed + units <= self.budget:
                return at + WINDOW_SECONDS + MARGIN_SECONDS
        return now + WINDOW_SECONDS  # unreachable while budget >= floor >= units


class _Account:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[Bucket, _Usage] = {}
        self.hold_until = 0.0


class Slot:
    """A granted request; the transport reports Google's answer to it."""

    def __init__(self, pacer: Pacer, account: _Account, cost: Cost) -> None:
        self._pacer = pacer
        self._account = account
        self._cost = cost
        self.refused = False

    def refuse(self, bucket: Bucket | None, retry_after: float | None) -> None:
        """Google answered 429 (``bucket`` from its ``quota_metric``, when it named one)."""
        self.refused = True
        self._pacer._refused(self._account, bucket or _first(self._cost), retry_after)


def _first(cost: Cost) -> Bucket | None:
    return next(iter(cost), None)


class Pacer:
    """Hands out request slots per Google account (``sub``); ``clock``/``sleep`` are injectable for tests.

    ``budgets``: units per minute for each paced bucket, or one number for every bucket but
    the full listing's first page (whose quota Google does not state).
    """

    def __init__(
        self,
        budgets: int | Mapping[Bucket, int],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(budgets, int):
            budgets = {b: budgets for b in Bucket if b is not Bucket.FULL_SYNC_FIRST_PAGE}
        too_small = [
            f"{b.value} budget {n} is below {largest_cost(b)}, the cost of one request"
            for b, n in budgets.items()
            if n < max(1, largest_cost(b))
        ]
        if too_small:
            raise ValueError("; ".join(too_small))
        self.budgets: Mapping[Bucket, int] = dict(budgets)
        self._clock = clock
        self._sleep = sleep
        self._accounts: dict[str, _Account] = {}
        self._registry_lock = threading.Lock()

    def _account(self, google_sub: str) -> _Account:
        with self._registry_lock:
            return self._accounts.setdefault(google_sub, _Account())

    def _usage(self, account: _Account, bucket: Bucket) -> _Usage:
        usage = account.buckets.get(bucket)
        if usage is None:
            configured = self.budgets.get(bucket)
            budget = float(configured) if configured is not None else None
            usage = _Usage(budget, budget, float(max(1, largest_cost(bucket))), recovered_at=self._clock())
            account.buckets[bucket] = usage
        return usage

    @contextmanager
    def slot(self, google_sub: str, cost: Cost = NO_COST) -> Iterator[Slot]:
        """Wait until ``google_sub`` has room for ``cost``; hold its lock while the request is in flight."""
        account = self._account(google_sub)
        with account.lock:
            self._wait(account, cost)
            slot = Slot(self, account, cost)
            try:
                yield slot
            finally:
                if not slot.refused:
                    now = self._clock()
                    for bucket, units in cost.items():
                        usage = self._usage(account, bucket)
                        usage.sent.append((now, units))
                        usage.used += units

    def _wait(self, account: _Account, cost: Cost) -> None:
        while True:
            now = self._clock()
            ready = account.hold_until
            for bucket, units in cost.items():
                usage = self._usage(account, bucket)
                usage.expire(now)
                usage.recover(now)
                ready = max(ready, usage.ready_at(units, now))
            if ready <= now:
                return
            self._sleep(ready - now)

    def _refused(self, account: _Account, bucket: Bucket | None, retry_after: float | None) -> None:
        now = self._clock()
        if retry_after is not None:
            account.hold_until = max(account.hold_until, now + min(retry_after, MAX_HOLD_SECONDS))
        if bucket is None:
            return
        usage = self._usage(account, bucket)
        usage.expire(now)
        if usage.budget is None:
            # An unpaced bucket (the full listing's first page): learn a budget from what was let through.
            usage.budget = max(usage.floor, float(usage.used))
        usage.budget = max(usage.floor, usage.budget * DECREASE_FACTOR)
        usage.recovered_at = now

    def budget(self, google_sub: str, bucket: Bucket) -> float | None:
        """The units per minute ``bucket`` now allows for ``google_sub`` (for tests and metrics)."""
        account = self._account(google_sub)
        with account.lock:
            usage = self._usage(account, bucket)
            usage.recover(self._clock())
            return usage.budget


def budgets_of(settings: Settings) -> dict[Bucket, int]:
    return {
        Bucket.CRITICAL_READ: settings.google_critical_reads_per_minute,
        Bucket.CRITICAL_WRITE: settings.google_critical_writes_per_minute,
        Bucket.READ: settings.google_reads_per_minute,
        Bucket.WRITE: settings.google_writes_per_minute,
    }


_shared: dict[tuple[tuple[Bucket, int], ...], Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(settings: Settings) -> Pacer:
    """The process-wide pacer for the configured budgets: every client in this process shares it."""
    budgets = budgets_of(settings)
    key = tuple(sorted(budgets.items()))
    with _shared_lock:
        pacer = _shared.get(key)
        if pacer is None:
            pacer = _shared[key] = Pacer(budgets)
        return pacer
