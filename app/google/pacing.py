"""Per-Google-account pacing: one request at a time, at most N requests in any 60-second window.

Google's People API quotas are counted per user per minute. A sliding window of the last N
send times is used rather than a token bucket: it lets a small sync go at full speed and
still never puts more than N requests into any minute, whereas a bucket either spaces every
request out or lets a burst spill over the minute's quota.

The lock is process-local on purpose: it keeps one process from sending two requests for the
same account at once (Google asks for sequential mutations per user). Exclusivity across
processes is the sync engine's database lease, not this module's job.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WINDOW_SECONDS = 60.0


class _Account:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: deque[float] = deque()


class Pacer:
    """Hands out request slots per Google account (``sub``); ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._accounts: dict[str, _Account] = {}
        self._registry_lock = threading.Lock()

    def _account(self, google_sub: str) -> _Account:
        with self._registry_lock:
            return self._accounts.setdefault(google_sub, _Account())

    @contextmanager
    def slot(self, google_sub: str) -> Iterator[None]:
        """Wait until ``google_sub`` may send, then hold its lock while the request is in flight."""
        account = self._account(google_sub)
        with account.lock:
            now = self._clock()
            while account.sent and account.sent[0] <= now - WINDOW_SECONDS:
                account.sent.popleft()
            if len(account.sent) >= self.requests_per_minute:
                self._sleep(account.sent[0] + WINDOW_SECONDS - now)
                account.sent.popleft()
                now = self._clock()
            account.sent.append(now)
            yield


_shared: dict[int, Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(requests_per_minute: int) -> Pacer:
    """The process-wide pacer for a quota, so every client in this process paces the same accounts."""
    with _shared_lock:
        return _shared.setdefault(requests_per_minute, Pacer(requests_per_minute))
