"""Per-account pacing with a fake clock: nothing here sleeps for real."""

from __future__ import annotations

import threading

import pytest

from app.google.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def take(pacer: Pacer, sub: str, times: int = 1) -> None:
    for _ in range(times):
        with pacer.slot(sub):
            pass


def test_a_burst_within_the_quota_goes_at_once_and_the_next_request_waits_for_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(3, clock=clock, sleep=clock.sleep)
    take(pacer, "a", 3)
    assert clock.sleeps == []
    take(pacer, "a")
    assert clock.sleeps == [60.0]


def test_the_window_slides_so_no_minute_holds_more_than_the_quota() -> None:
    clock = FakeClock()
    pacer = Pacer(3, clock=clock, sleep=clock.sleep)
    sent = []
    for at in (0.0, 10.0, 20.0, 30.0, 35.0):
        clock.now = max(clock.now, at)
        take(pacer, "a")
        sent.append(clock.now)
    assert sent == [0.0, 10.0, 20.0, 60.0, 70.0]
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 60) <= 3


def test_accounts_are_paced_independently() -> None:
    clock = FakeClock()
    pacer = Pacer(1, clock=clock, sleep=clock.sleep)
    take(pacer, "a")
    take(pacer, "b")
    assert clock.sleeps == []
    take(pacer, "a")
    assert clock.sleeps == [60.0]


def test_one_request_at_a_time_per_account() -> None:
    pacer = Pacer(1000)
    inside = threading.Event()
    release = threading.Event()
    entered: list[str] = []

    def first() -> None:
        with pacer.slot("a"):
            entered.append("first")
            inside.set()
            release.wait(5)

    def second() -> None:
        with pacer.slot("a"):
            entered.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(5)
    threads[1].start()
    threads[1].join(0.2)
    assert entered == ["first"], "the second request waits while the first is in flight"
    with pacer.slot("b"):
        entered.append("other account")
    release.set()
    for thread in threads:
        thread.join(5)
    assert entered == ["first", "other account", "second"]


def test_a_quota_below_one_request_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Pacer(0)
