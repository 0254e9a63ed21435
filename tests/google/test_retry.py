"""The retry policy's reading of Google's answers: Retry-After, quota refusals, what is retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import tenacity

from app.google.limits import Bucket
from app.google.retry import (
    RetryPolicy,
    TransientError,
    refused_bucket,
    retry_after_seconds,
    retrying,
    transient_answer,
)

NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Wed, 02 Dec 2026 12:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


def _quota_error(
    code: int, metric: str | None, reason: str = "RATE_LIMIT_EXCEEDED", status: str = "RESOURCE_EXHAUSTED"
) -> bytes:
    detail: dict[str, object] = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
    if metric:
        detail["metadata"] = {"quota_metric": metric}
    return json.dumps(
        {"error": {"code": code, "status": status, "message": "quota", "details": [detail]}}
    ).encode()


def test_a_quota_refusal_names_its_bucket_for_the_pacer() -> None:
    metric = "people.googleapis.com/critical_write_requests"
    assert refused_bucket(429, _quota_error(429, metric)) == (True, Bucket.CRITICAL_WRITE)
    assert refused_bucket(403, _quota_error(403, metric)) == (True, Bucket.CRITICAL_WRITE)
    assert refused_bucket(429, _quota_error(429, "people.googleapis.com/something_new")) == (True, None)
    assert refused_bucket(429, b"<html>Too many</html>") == (True, None)
    scope = _quota_error(403, None, reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT", status="PERMISSION_DENIED")
    assert refused_bucket(403, scope) == (False, None)
    assert refused_bucket(503, b"") == (False, None)


@pytest.mark.parametrize(
    ("status", "retried"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
)
def test_token_and_revoke_answers_are_retried_only_on_429_and_5xx(status: int, retried: bool) -> None:
    transient = transient_answer(status, {"retry-after": "3"})
    assert (transient is not None) is retried
    if transient is not None:
        assert transient.retry_after == 3.0
        assert transient.quota is (status == 429)


def test_a_create_is_retried_only_when_nothing_was_applied() -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, jitter=0.0)
    sleeps: list[float] = []
    failures = [TransientError("429", quota=True, may_have_applied=False), TransientError("503")]

    def attempt() -> str:
        raise failures.pop(0)

    with pytest.raises(TransientError, match="503"):
        retrying(policy, sleeps.append, creates=True)(attempt)
    assert failures == [], "the 429 was retried, the 503 (maybe applied) was not"
    assert sleeps == [0.0]


def test_the_wait_honours_retry_after_but_caps_it() -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_retry_after=60.0)
    sleeps: list[float] = []
    failures = [TransientError("503", retry_after=7.0), TransientError("429", quota=True, retry_after=3600.0)]

    def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert retrying(policy, sleeps.append)(attempt) == "ok"
    assert sleeps == [7.0, 60.0]


def test_other_errors_are_never_retried() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise ValueError("a 4xx is Google's final word")

    with pytest.raises(ValueError, match="final word"):
        retrying(RetryPolicy(), lambda _: None)(attempt)
    assert calls == [1]
    assert isinstance(retrying(RetryPolicy(), lambda _: None), tenacity.Retrying)
