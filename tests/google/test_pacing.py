"""Per-account pacing in Google's quota units, with a fake clock: nothing here sleeps for real."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.config import ConfigError, Settings
from app.google.limits import (
    COST_BATCH_DELETE,
    COST_BATCH_MUTATE,
    COST_CRITICAL_READ,
    COST_GROUP_READ,
    Bucket,
    Cost,
    largest_cost,
)
from app.google.pacing import MARGIN_SECONDS, WINDOW_SECONDS, Pacer, budgets_of
from tests.google.helpers import FakeClock

LATER = WINDOW_SECONDS + MARGIN_SECONDS


def take(pacer: Pacer, sub: str, cost: Cost, times: int = 1) -> list[float]:
    """Send ``times`` requests of ``cost``; the clock readings at which each was let go."""
    sent = []
    for _ in range(times):
        with pacer.slot(sub, cost):
            sent.append(pacer_clock(pacer))
    return sent


def pacer_clock(pacer: Pacer) -> float:
    return pacer._clock()


def budgets(units: int) -> dict[Bucket, int]:
    return dict.fromkeys((Bucket.CRITICAL_READ, Bucket.CRITICAL_WRITE, Bucket.READ, Bucket.WRITE), units)


def test_batches_are_paced_by_their_units_not_by_their_count() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    # 6 critical reads + 6 critical writes each: ten fit in a minute, the eleventh waits.
    sent = take(pacer, "a", COST_BATCH_MUTATE, 11)
    assert sent[:10] == [0.0] * 10
    assert sent[10] == pytest.approx(LATER)
    # Group reads draw on another bucket, which the batches left untouched.
    assert take(pacer, "a", COST_GROUP_READ) == [pytest.approx(LATER)]


def test_no_sixty_seconds_ever_hold_more_units_than_the_budget() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []
    for index in range(40):
        clock.now += 0.7  # each answer takes a while
        cost = COST_CRITICAL_READ if index % 7 == 0 else COST_BATCH_MUTATE
        with pacer.slot("a", cost):
            pass
        sent.append((clock.now, cost[Bucket.CRITICAL_READ]))
    for start, _ in sent:
        in_window = sum(units for at, units in sent if start - WINDOW_SECONDS < at <= start)
        assert in_window <= 60


def test_a_sync_is_only_as_slow_as_the_quota_makes_it() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    sent = take(pacer, "a", COST_BATCH_MUTATE, 25)  # 5,000 contacts in batches of 200
    # Ten batches per minute: the 25th leaves at the start of the third minute, and no later.
    assert sent[-1] == pytest.approx(2 * LATER)


def test_accounts_are_paced_independently() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(10), clock=clock, sleep=clock.sleep)
    take(pacer, "a", COST_BATCH_DELETE)
    take(pacer, "b", COST_BATCH_DELETE)
    assert clock.sleeps == []
    take(pacer, "a", COST_BATCH_DELETE)
    assert clock.sleeps == [pytest.approx(LATER)]


def test_a_429_holds_the_account_for_retry_after_and_halves_the_refused_bucket() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    with pacer.slot("a", COST_BATCH_MUTATE) as slot:
        slot.refuse(Bucket.CRITICAL_WRITE, retry_after=20.0)
    assert pacer.budget("a", Bucket.CRITICAL_WRITE) == 30
    assert pacer.budget("a", Bucket.CRITICAL_READ) == 60, "only the bucket Google named"
    # Retry-After is a floor: nothing for this account leaves before it.
    assert take(pacer, "a", COST_GROUP_READ) == [20.0]
    waited = len(clock.sleeps)
    take(pacer, "b", COST_GROUP_READ)
    assert len(clock.sleeps) == waited, "other accounts are not held"
    # The refused request was not charged; five batches now fit in a minute, the sixth waits.
    sent = take(pacer, "a", COST_BATCH_MUTATE, 6)
    assert sent[:5] == [20.0] * 5
    assert sent[5] == pytest.approx(20.0 + LATER)


def test_the_budget_grows_back_slowly_after_quiet_minutes() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    with pacer.slot("a", COST_BATCH_MUTATE) as slot:
        slot.refuse(Bucket.CRITICAL_WRITE, retry_after=None)
    with pacer.slot("a", COST_BATCH_MUTATE) as slot:
        slot.refuse(Bucket.CRITICAL_WRITE, retry_after=None)
    assert pacer.budget("a", Bucket.CRITICAL_WRITE) == 15
    clock.now += WINDOW_SECONDS
    assert pacer.budget("a", Bucket.CRITICAL_WRITE) == 21, "a tenth of the configured budget per minute"
    clock.now += 10 * WINDOW_SECONDS
    assert pacer.budget("a", Bucket.CRITICAL_WRITE) == 60, "never above the configured budget"


def test_the_budget_never_falls_below_one_request() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    for _ in range(10):
        with pacer.slot("a", COST_BATCH_DELETE) as slot:
            slot.refuse(Bucket.WRITE, retry_after=None)
    assert pacer.budget("a", Bucket.WRITE) == largest_cost(Bucket.WRITE) == 10
    take(pacer, "a", COST_BATCH_DELETE)  # still possible: it waits, it does not hang


def test_a_refused_unpaced_bucket_learns_a_budget() -> None:
    clock = FakeClock()
    pacer = Pacer(budgets(60), clock=clock, sleep=clock.sleep)
    first_page = {Bucket.CRITICAL_READ: 1, Bucket.FULL_SYNC_FIRST_PAGE: 1}
    assert pacer.budget("a", Bucket.FULL_SYNC_FIRST_PAGE) is None
    take(pacer, "a", first_page, 4)
    with pacer.slot("a", first_page) as slot:
        slot.refuse(Bucket.FULL_SYNC_FIRST_PAGE, retry_after=None)
    assert pacer.budget("a", Bucket.FULL_SYNC_FIRST_PAGE) == 2


def test_one_request_at_a_time_per_account() -> None:
    pacer = Pacer(1000)
    inside = threading.Event()
    release = threading.Event()
    entered: list[str] = []

    def first() -> None:
        with pacer.slot("a", COST_GROUP_READ):
            entered.append("first")
            inside.set()
            release.wait(5)

    def second() -> None:
        with pacer.slot("a", COST_GROUP_READ):
            entered.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(5)
    threads[1].start()
    threads[1].join(0.2)
    assert entered == ["first"], "the second request waits while the first is in flight"
    with pacer.slot("b", COST_GROUP_READ):
        entered.append("other account")
    release.set()
    for thread in threads:
        thread.join(5)
    assert entered == ["first", "other account", "second"]


def test_a_budget_below_one_request_is_refused() -> None:
    with pytest.raises(ValueError, match="write_requests budget 9 is below 10"):
        Pacer({Bucket.WRITE: 9})
    with pytest.raises(ValueError, match="critical_write_requests budget 5 is below 6"):
        Pacer(5)


def _settings_env(**values: str) -> dict[str, str]:
    return {
        "GROUPSYNC_ENV": "test",
        "DATABASE_URL": "sqlite://",
        "GROUPSYNC_TOKEN_KEYS": "k1:" + "A" * 43 + "=",
        **values,
    }


def test_the_settings_refuse_budgets_below_one_request(tmp_path: Path) -> None:
    for name, bucket in (
        ("GROUPSYNC_GOOGLE_CRITICAL_READS_PER_MINUTE", Bucket.CRITICAL_READ),
        ("GROUPSYNC_GOOGLE_CRITICAL_WRITES_PER_MINUTE", Bucket.CRITICAL_WRITE),
        ("GROUPSYNC_GOOGLE_READS_PER_MINUTE", Bucket.READ),
        ("GROUPSYNC_GOOGLE_WRITES_PER_MINUTE", Bucket.WRITE),
    ):
        smallest = max(1, largest_cost(bucket))
        with pytest.raises(ConfigError, match=f"{name} must be at least {smallest}"):
            Settings.from_env(_settings_env(**{name: str(smallest - 1)}), tmp_path)
        settings = Settings.from_env(_settings_env(**{name: str(smallest)}), tmp_path)
        assert budgets_of(settings)[bucket] == smallest
        Pacer(budgets_of(settings))


def test_the_old_request_count_setting_is_named_as_replaced(tmp_path: Path) -> None:
    env = _settings_env(GROUPSYNC_GOOGLE_REQUESTS_PER_MINUTE="60")
    with pytest.raises(ConfigError, match="GROUPSYNC_GOOGLE_REQUESTS_PER_MINUTE is no longer read"):
        Settings.from_env(env, tmp_path)
