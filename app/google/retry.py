"""When a request to Google is tried again, and what a failed one means: the one retry policy.

* **What is retried.** Answers 429 (and 403 quota refusals, which Google sends for some
  quotas), 5xx, and a request that timed out or lost its connection. Nothing else: a 4xx
  is Google's final word and is mapped to a typed :mod:`app.google.errors` error.
* **Where it is safe.** Reads and idempotent writes (updates, deletes, membership changes,
  token refreshes, revocations) are retried. A create is retried only when the failure
  proves nothing was applied (a quota refusal, the connection never opened, the token
  refresh failing before the create was sent): httplib2's and google-api-python-client's
  own resends are what make twin contacts (see ``people-api.md``, "Client-library
  pitfalls"), so none happens here. Any other failure of a create raises
  :class:`~app.google.errors.AmbiguousWriteError`, and the caller adopts what exists on its
  next run. A repeated update whose first attempt Google did apply meets a stale etag, and a
  repeated delete a missing contact; after an attempt that may have been applied, such a
  refusal is reported as ``AmbiguousWriteError`` too, not as the error it looks like.
* **How long to wait.** Capped exponential backoff with jitter (tenacity), and never less
  than the answer's Retry-After (seconds or an HTTP date), itself capped so one answer
  cannot park a sync for hours. An authorization code is never retried: it is single-use.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TypeVar

import google.auth.exceptions
import tenacity
from googleapiclient.errors import HttpError

from app.google.errors import (
    AmbiguousWriteError,
    ContactLimitReachedError,
    GoogleUnavailableError,
    NeedsReconnectError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestRejectedError,
    StaleEtagError,
    SyncTokenExpiredError,
)
from app.google.limits import Bucket

T = TypeVar("T")
Sleep = Callable[[float], None]

QUOTA_REASONS: Final = frozenset(
    {
        "RATE_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "quotaExceeded",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 32.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    """A Retry-After above this is capped, so one answer cannot park a sync for hours."""


TOKEN_POLICY: Final = RetryPolicy(max_attempts=4, initial_wait=0.5, max_wait=8.0, jitter=0.5)
"""Token refreshes and revocations: a token endpoint still failing after this is reported, not hammered."""


class Mode(Enum):
    READ = "read"
    IDEMPOTENT_WRITE = "idempotent_write"
    CREATE = "create"


class TransportFailureError(Exception):
    """No answer arrived: ``sent`` is False only when the request provably never left (no connection)."""

    def __init__(self, outcome: str, *, sent: bool, to_token_endpoint: bool = False) -> None:
        self.outcome = outcome
        self.sent = sent
        self.to_token_endpoint = to_token_endpoint
        super().__init__(outcome)


class TransientError(Exception):
    """A failure worth retrying; ``may_have_applied`` is False only when Google provably did nothing."""

    def __init__(
        self,
        outcome: str,
        *,
        quota: bool = False,
        may_have_applied: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.outcome = outcome
        self.quota = quota
        self.may_have_applied = may_have_applied
        self.retry_after = retry_after
        super().__init__(outcome)


# --------------------------------------------------------------------------- reading Google's answers


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class ErrorBody:
    status: str
    reason: str | None
    message: str
    quota_metric: str | None = None


def error_body(content: bytes | str | None, fallback: str = "") -> ErrorBody:
    """Google's JSON error envelope, read defensively (any part may be missing)."""
    try:
        error = json.loads(content or b"").get("error", {})
    except (ValueError, AttributeError):
        return ErrorBody("", None, fallback)
    if not isinstance(error, dict):
        return ErrorBody("", None, str(error))
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    reason = next((d.get("reason") for d in details if d.get("reason")), None)
    if reason is None:
        # The older envelope puts the reason under ``errors[]``.
        reason = next((e.get("reason") for e in error.get("errors") or () if isinstance(e, dict)), None)
    metric = next(
        (
            str(d["metadata"]["quota_metric"])
            for d in details
            if isinstance(d.get("metadata"), dict) and d["metadata"].get("quota_metric")
        ),
        None,
    )
    return ErrorBody(str(error.get("status", "")), reason, str(error.get("message", "")), metric)


def is_quota_refusal(status: int, body: ErrorBody) -> bool:
    return status == 429 or (
        status == 403 and (body.reason in QUOTA_REASONS or body.status == "RESOURCE_EXHAUSTED")
    )


def refused_bucket(status: int, content: bytes | None) -> tuple[bool, Bucket | None]:
    """Whether an answer is a quota refusal, and the bucket it names (for the pacer)."""
    if status not in (403, 429):
        return False, None  # and a large 200 answer is not parsed twice
    body = error_body(content)
    if not is_quota_refusal(status, body):
        return False, None
    return True, Bucket.from_metric(body.quota_metric) if body.quota_metric else None


def classify(method: str, exc: HttpError) -> Exception:
    """A People API error answer as a :class:`TransientError` (retry) or a typed final error."""
    status = int(exc.resp.status)
    body = error_body(exc.content, str(exc.resp.reason or ""))
    quota = is_quota_refusal(status, body)
    if quota or status >= 500:
        # A quota refusal provably did nothing; a server error may have been applied.
        return TransientError(
            str(status),
            quota=quota,
            may_have_applied=not quota,
            retry_after=retry_after_seconds(exc.resp.get("retry-after")),
        )
    if status == 401:
        return NeedsReconnectError(
            method, "Google no longer accepts the credentials; the user must reconnect"
        )
    if status == 403:
        return PermissionDeniedError(
            method, f"Google refused access ({body.reason or body.status}): {body.message}"
        )
    if body.reason == "EXPIRED_SYNC_TOKEN":
        return SyncTokenExpiredError(method, "the sync token expired; a full listing is needed")
    if _is_contact_limit(body):
        return ContactLimitReachedError(method, f"the Google account is at its contact limit: {body.message}")
    if status == 400 and body.status == "FAILED_PRECONDITION" and "etag" in body.message.lower():
        return StaleEtagError(method, body.message)
    return RequestRejectedError(method, f"{status} {body.status}: {body.message}", status)


def _is_contact_limit(body: ErrorBody) -> bool:
    # Google documents no reason code for it; the message names the account's contact limit.
    text = body.message.lower()
    return body.status == "FAILED_PRECONDITION" and "limit" in text and "contacts" in text


def transient_answer(status: int, headers: Mapping[str, str]) -> TransientError | None:
    """A token-endpoint or revocation answer worth retrying (429 or 5xx), else ``None``."""
    if status != 429 and status < 500:
        return None
    return TransientError(
        str(status),
        quota=status == 429,
        may_have_applied=status != 429,
        retry_after=retry_after_seconds(headers.get("retry-after")),
    )


# --------------------------------------------------------------------------- waiting and retrying


class _Backoff(tenacity.wait.wait_base):
    """Capped exponential backoff with jitter, never shorter than the last answer's Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = tenacity.wait_exponential(
            multiplier=policy.initial_wait, max=policy.max_wait
        ) + tenacity.wait_random(0, policy.jitter)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        delay = float(self._backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self._policy.max_retry_after))
        return delay


def retrying(policy: RetryPolicy, sleep: Sleep, *, creates: bool = False) -> tenacity.Retrying:
    """Retries :class:`TransientError` only (for creates: only those that provably did nothing)."""

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, TransientError) and not (creates and exc.may_have_applied)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=_Backoff(policy),
        retry=tenacity.retry_if_exception(retryable),
        sleep=sleep,
        reraise=True,
    )


class RetryControllers:
    """The retry controllers of one sender, built once and reused for each of its requests.

    tenacity keeps each call's state per thread, so a controller may be reused. Each one is a
    reference cycle: built per request, they would linger, with what their last attempt
    returned, until the garbage collector's rare full pass (125 of them in a sync run of
    25,000 contacts).
    """

    def __init__(self, policy: RetryPolicy, sleep: Sleep) -> None:
        self._others = retrying(policy, sleep)
        self._creates = retrying(policy, sleep, creates=True)

    def for_mode(self, mode: Mode) -> tenacity.Retrying:
        return self._creates if mode is Mode.CREATE else self._others


class PeopleAttempts:
    """One People API call's attempts: maps each failure, remembers whether one may have applied.

    ``execute(attempt)`` sends the request once (attributed as attempt ``attempt``).
    ``refresh_unavailable`` is the exception type GroupSync's own token refresh raises when
    the token endpoint stayed down (it already retried; the People request was not sent).
    """

    def __init__(
        self,
        method: str,
        mode: Mode,
        execute: Callable[[int], Any],
        *,
        resource_names: Sequence[str] = (),
        refresh_unavailable: type[Exception] | None = None,
    ) -> None:
        self.method = method
        self.mode = mode
        self.attempts = 0
        self.uncertain = False
        self._execute = execute
        self._resource_names = resource_names
        self._refresh_unavailable = refresh_unavailable

    def once(self) -> Any:
        self.attempts += 1
        try:
            return self._execute(self.attempts)
        except HttpError as exc:
            error = classify(self.method, exc)
        except google.auth.exceptions.RefreshError as exc:
            error = self._refresh_failure(exc)
        except TransportFailureError as exc:
            error = TransientError(exc.outcome, may_have_applied=exc.sent and not exc.to_token_endpoint)
        except Exception as exc:
            if self._refresh_unavailable is None or not isinstance(exc, self._refresh_unavailable):
                raise
            error = GoogleUnavailableError(
                self.method, f"the access token could not be refreshed: {getattr(exc, 'outcome', exc)}"
            )
        if isinstance(error, TransientError):
            self.uncertain = self.uncertain or error.may_have_applied
            raise error
        if self.uncertain and self.mode is not Mode.READ:
            # An earlier attempt may have been applied, which explains this refusal.
            raise AmbiguousWriteError(
                self.method, f"an earlier attempt may have been applied; then: {error}", self._resource_names
            ) from error
        raise error

    def _refresh_failure(self, exc: google.auth.exceptions.RefreshError) -> Exception:
        if getattr(exc, "retryable", False):
            return TransientError("token_refresh", may_have_applied=False)
        return NeedsReconnectError(
            self.method, "Google refused to refresh the access token; the user must reconnect"
        )

    def run(self, controllers: RetryControllers) -> Any:
        try:
            return controllers.for_mode(self.mode)(self.once)
        except TransientError as exc:
            raise self._gave_up(exc) from exc

    def _gave_up(self, exc: TransientError) -> Exception:
        tried = f"after {self.attempts} attempt(s), last: {exc.outcome}"
        if self.mode is not Mode.READ and self.uncertain:
            return AmbiguousWriteError(self.method, f"the outcome is unknown {tried}", self._resource_names)
        if exc.quota:
            return QuotaExceededError(self.method, f"Google's quota kept refusing the request {tried}")
        return GoogleUnavailableError(self.method, f"Google did not answer usably {tried}")
