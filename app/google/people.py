"""The single People API client layer: every Google People request GroupSync makes goes through here.

What the layer guarantees, so its callers cannot get it wrong:

* **Group scope.** Contacts are reached only through :class:`GroupContacts`, bound to one
  :class:`GroupScope` (GroupSync's group and its clientData marker). A contact is modified,
  deleted or removed from the group only if this client saw, in a Google response during its
  own life, that the contact is a member of the group AND carries the marker; anything else
  raises :class:`~app.google.errors.ScopeViolationError` before a byte is sent. Contacts are read
  only by resource names the group listing or an earlier response put in scope, and
  ``connections.list`` results outside the scope are dropped here. No raw service is exposed.
* **Every HTTP request is in the ledger before it is sent** (each retry and each token refresh
  is its own request): the transport every byte goes through commits a
  ``google.request_started`` entry first and adds the ``google.request`` outcome entry after,
  so the ledger and Google's (or the emulator's) request log match one to one even when
  the process is killed mid-request.
* **Pacing.** Requests for one Google account go one at a time and within the per-minute
  quota (:mod:`app.google.pacing`).
* **Retries only where they are safe.** Reads and idempotent writes (updates, deletes,
  membership changes) are retried on 429, quota 403s, 5xx, timeouts and dropped connections
  with capped exponential backoff and jitter, honouring Retry-After. Creates (contacts and
  groups) are retried only when the failure proves nothing was applied (429/quota, or the
  token refresh failing before the create was sent); any other failure of a create raises
  :class:`~app.google.errors.AmbiguousWriteError` and the caller adopts on its next run.
  A repeated update whose first attempt Google did apply meets a stale etag (400), and a
  repeated delete meets a missing contact; after an attempt that may have been applied,
  such a refusal is therefore reported as ``AmbiguousWriteError`` too (the caller re-reads
  on its next run) rather than as the error it looks like.
* **No silent resends underneath.** httplib2 (google-api-python-client's default transport)
  resends a request when the connection drops before the answer: ``_conn_request`` retries a
  ``BadStatusLine``/``RemoteDisconnected`` on the first try "regardless of the number of
  RETRIES set", so ``httplib2.RETRIES = 1`` does not stop it, and a create Google already
  applied would be sent twice. The layer therefore hands google-api-python-client (and
  google-auth's :class:`AuthorizedHttp`) a small transport on ``requests``, whose adapter
  performs no retries, with a timeout on every request; a mutation always opens a fresh
  connection so that a kept-alive socket the server already closed cannot fake an ambiguous
  failure.

Transactions: the caller's :class:`~app.ledger.services.GoogleRequestLedger` commits the
caller's session before every request, so a run's database work is committed at each request
to Google and no transaction stays open while Google answers. Outcome entries join the
caller's transaction; the caller commits after it has applied a batch's result, and also
(not rolls back) after catching a :class:`~app.google.errors.PeopleError`, or those outcomes
are lost (their requests stay in the ledger as started).

A client is not thread-safe; use one per sync run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final

import google.auth.exceptions
import httplib2
import requests
import tenacity
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from urllib3.exceptions import NewConnectionError

from app.config import Settings
from app.google.endpoints import GoogleEndpoints
from app.google.errors import (
    AmbiguousWriteError,
    ContactLimitReachedError,
    GoogleUnavailableError,
    GroupDeletedError,
    GroupNameTakenError,
    NeedsReconnectError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestRejectedError,
    ScopeViolationError,
    StaleEtagError,
    SyncTokenExpiredError,
)
from app.google.fields import FIELD_CATEGORIES, OWNED_FIELDS
from app.google.pacing import Pacer, shared_pacer
from app.google.tokens import TokenEndpointUnavailableError
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, StartedRequest
from app.ops import metrics

Person = dict[str, Any]
"""A People API ``Person`` resource as JSON."""

MAX_BATCH_GET: Final = 200
MAX_BATCH_CREATE: Final = 200
MAX_BATCH_UPDATE: Final = 200
MAX_BATCH_DELETE: Final = 500
MAX_MEMBER_CHANGES: Final = 1000
MAX_PAGE_SIZE: Final = 1000
MAX_GROUP_MEMBERS: Final = 25_000
"""Google's per-account contact limit, so one group read always returns every member."""

UPDATABLE_FIELDS: Final = frozenset(OWNED_FIELDS)
"""The Person fields GroupSync owns; the only ones an update may send or put in its mask."""

_SCOPE_FIELDS: Final = ("clientData", "memberships", "metadata")
"""Read with every person: the layer decides scope from them and needs the etag and sources."""
_FIELD_CATEGORIES: Final[Mapping[str, DataCategory]] = {
    **FIELD_CATEGORIES,
    # The scope fields' categories are named after them.
    **{name: DataCategory(name) for name in _SCOPE_FIELDS},
}
_SCOPE_MASK: Final = ",".join(_SCOPE_FIELDS)
_GROUP_FIELDS: Final = "clientData,groupType,memberCount,metadata,name"
_CREATE_GROUP_FIELDS: Final = "clientData,groupType,metadata,name"
"""contactGroups.create's readGroupFields: Google documents no memberCount there (a new group has none)."""
_GROUP_CATEGORIES: Final = frozenset({DataCategory.CONTACT_GROUPS, DataCategory.CLIENT_DATA})
_QUOTA_REASONS: Final = frozenset(
    {
        "RATE_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "quotaExceeded",
    }
)


# --------------------------------------------------------------------------- public values


@dataclass(frozen=True)
class ClientDataTag:
    """A clientData ``{key, value}`` pair marking what GroupSync created (contacts and its group)."""

    key: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}

    def found_in(self, entries: Iterable[Mapping[str, Any]]) -> bool:
        return any(e.get("key") == self.key and e.get("value") == self.value for e in entries)


@dataclass(frozen=True)
class GroupScope:
    """GroupSync's contact group for one sync, and the marker its contacts carry."""

    group_resource_name: str
    marker: ClientDataTag


@dataclass(frozen=True)
class RequestContext:
    """Who and what the requests are for; copied into every ledger entry."""

    account_id: int
    user_id: int | None
    google_sub: str
    trigger: Trigger
    actor: str
    """``system`` or ``user:<id>``."""
    purpose: Purpose = Purpose.CONTACT_SYNC


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 32.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    """A Retry-After above this is capped, so one answer cannot park a sync for hours."""


@dataclass(frozen=True)
class ContactGroupInfo:
    resource_name: str
    etag: str
    name: str
    member_count: int
    member_resource_names: tuple[str, ...]
    """Filled only when members were asked for."""
    tagged: bool
    """The group carries the marker it was looked up with."""


@dataclass(frozen=True)
class FetchedPerson:
    """A contact as Google returned it, with the layer's scope verdict."""

    resource_name: str
    etag: str
    person: Person
    in_group: bool
    tagged: bool
    group_memberships: tuple[str, ...]
    """Every contact group the contact belongs to (ours, the user's own, system groups)."""

    @property
    def verified(self) -> bool:
        return self.in_group and self.tagged


@dataclass(frozen=True)
class BatchGetResult:
    found: dict[str, FetchedPerson]
    """Keyed by the resource name asked for (the person's own name may differ: it can change)."""
    missing: tuple[str, ...]


@dataclass(frozen=True)
class WriteResult:
    """One item of a batch create or update."""

    index: int
    """Position in the request (creates) or in the mapping's iteration order (updates)."""
    requested_resource_name: str | None
    """``None`` for creates."""
    status_code: int
    message: str
    person: FetchedPerson | None
    """The contact as written (None when the item failed)."""

    @property
    def ok(self) -> bool:
        return self.person is not None


@dataclass(frozen=True)
class MembersResult:
    not_found: tuple[str, ...]
    cannot_remove_last_group: tuple[str, ...]
    """Contacts Google kept in the group because it is their only one."""


@dataclass(frozen=True)
class ConnectionsResult:
    people: list[FetchedPerson]
    """Only contacts in the group or carrying the marker; everything else is dropped here."""
    deleted: tuple[str, ...]
    """Resource names reported deleted (incremental listings only)."""
    next_sync_token: str | None
    total: int | None = None
    """How many contacts the whole account holds (``totalItems``); full listings only."""


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class _Call:
    method: str
    kind: FlowKind
    categories: frozenset[DataCategory]
    records: int = 0
    count_key: str | None = None
    """Response list whose length is the record count (reads), instead of ``records``."""
    attempt: int = 1


class _TransportFailureError(Exception):
    def __init__(self, outcome: str, sent: bool, to_token_endpoint: bool) -> None:
        self.outcome = outcome
        self.sent = sent
        self.to_token_endpoint = to_token_endpoint
        super().__init__(outcome)


class _RecordingHttp:
    """The transport under google-api-python-client and google-auth: paces, sends once, records.

    It speaks httplib2's ``request()`` interface, which is what both libraries call.
    """

    def __init__(
        self,
        *,
        context: RequestContext,
        ledger: GoogleRequestLedger,
        pacer: Pacer,
        timeout: float,
        token_uri: str,
    ) -> None:
        self.timeout = timeout
        self.call: _Call | None = None
        self._context = context
        self._ledger = ledger
        self._pacer = pacer
        self._token_uri = token_uri
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> tuple[httplib2.Response, bytes]:
        to_token = uri.split("?", 1)[0] == self._token_uri
        call = _TOKEN_REFRESH if to_token else self.call
        if call is None:
            raise RuntimeError(
                "a People API request outside a client call cannot be attributed in the ledger"
            )
        if isinstance(body, str):
            body = body.encode("utf-8")
        # The ledger is written outside the account's slot: a writer holding the slot while
        # waiting for the ledger chain's row lock could deadlock with a transaction waiting for the slot.
        started = self._ledger.start(self._flow(call))
        failure: _TransportFailureError | None = None
        try:
            with self._pacer.slot(self._context.google_sub):
                if method != "GET":
                    # A fresh connection: a failure is then the server's answer, not a stale keep-alive.
                    self._session.close()
                try:
                    response = self._session.request(
                        method,
                        uri,
                        data=body,
                        headers=dict(headers or {}),
                        timeout=self.timeout,
                        allow_redirects=False,
                    )
                except requests.RequestException as exc:
                    failure = _transport_failure(exc, to_token)
                    cause = exc
        except BaseException:
            # Interrupted here (a worker's time limit, a shutdown): the request may or may not have left.
            self._finish(started, call, "aborted", 0)
            raise
        if failure is not None:
            self._finish(started, call, failure.outcome, 0)
            raise failure from cause
        self._finish(started, call, str(response.status_code), _record_count(call, response))
        info: dict[str, str] = {k.lower(): v for k, v in response.headers.items()}
        info["status"] = str(response.status_code)
        return httplib2.Response(info), response.content

    def _finish(self, started: StartedRequest, call: _Call, outcome: str, records: int) -> None:
        metrics.observe_google_request(call.method, outcome, call.attempt)
        self._ledger.finish(started, started.ended(outcome, records=records))

    def _flow(self, call: _Call) -> Flow:
        ctx = self._context
        return Flow(
            tag=EventTag.GOOGLE_REQUEST,
            account_id=ctx.account_id,
            user_id=ctx.user_id,
            google_account=ctx.google_sub,
            kind=call.kind,
            purpose=ctx.purpose,
            trigger=ctx.trigger,
            actor=ctx.actor,
            outcome="started",
            destination=Destination.GOOGLE,
            method=call.method,
            records=call.records,
            categories=call.categories,
            detail={"attempt": call.attempt},
        )


_TOKEN_REFRESH: Final = _Call(
    method="oauth2.token.refresh",
    kind=FlowKind.TOKEN,
    categories=frozenset({DataCategory.OAUTH_TOKENS}),
    records=1,
)


def _transport_failure(exc: requests.RequestException, to_token: bool) -> _TransportFailureError:
    if isinstance(exc, requests.ConnectTimeout):
        return _TransportFailureError("connect_timeout", sent=False, to_token_endpoint=to_token)
    if isinstance(exc, requests.Timeout):
        return _TransportFailureError("timeout", sent=True, to_token_endpoint=to_token)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):
        return _TransportFailureError("connect_failed", sent=False, to_token_endpoint=to_token)
    return _TransportFailureError("connection_dropped", sent=True, to_token_endpoint=to_token)


def _record_count(call: _Call, response: requests.Response) -> int:
    if call.count_key is None:
        return call.records
    if response.status_code != 200:
        return 0
    try:
        items = response.json().get(call.count_key, ())
    except ValueError:
        return 0
    return len(items) if isinstance(items, list) else 0


# --------------------------------------------------------------------------- retries and errors


class _Mode(Enum):
    READ = "read"
    IDEMPOTENT_WRITE = "idempotent_write"
    CREATE = "create"


class _TransientError(Exception):
    """A failure worth retrying; ``may_have_applied`` is False only when Google provably did nothing."""

    def __init__(
        self, outcome: str, *, quota: bool, may_have_applied: bool, retry_after: float | None
    ) -> None:
        self.outcome = outcome
        self.quota = quota
        self.may_have_applied = may_have_applied
        self.retry_after = retry_after
        super().__init__(outcome)


@dataclass(frozen=True)
class _ErrorBody:
    status: str
    reason: str | None
    message: str


def _error_body(exc: HttpError) -> _ErrorBody:
    try:
        error = json.loads(exc.content).get("error", {})
    except (ValueError, AttributeError):
        return _ErrorBody("", None, str(exc.resp.reason or ""))
    if not isinstance(error, dict):
        return _ErrorBody("", None, str(error))
    reason = next(
        (d.get("reason") for d in error.get("details") or () if isinstance(d, dict) and d.get("reason")),
        None,
    )
    if reason is None:
        # The older envelope puts the reason under ``errors[]``.
        reason = next((e.get("reason") for e in error.get("errors") or () if isinstance(e, dict)), None)
    return _ErrorBody(str(error.get("status", "")), reason, str(error.get("message", "")))


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _classify(method: str, exc: HttpError) -> Exception:
    status = int(exc.resp.status)
    body = _error_body(exc)
    quota = status == 429 or (
        status == 403 and (body.reason in _QUOTA_REASONS or body.status == "RESOURCE_EXHAUSTED")
    )
    if quota or status >= 500:
        # A quota refusal provably did nothing; a server error may have been applied.
        return _TransientError(
            str(status),
            quota=quota,
            may_have_applied=not quota,
            retry_after=_retry_after(exc.resp.get("retry-after")),
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


def _is_contact_limit(body: _ErrorBody) -> bool:
    # Google documents no reason code for it; the message names the account's contact limit.
    text = body.message.lower()
    return body.status == "FAILED_PRECONDITION" and "limit" in text and "contacts" in text


class _Sender:
    """Runs one API call: attributes it in the ledger, retries per mode, maps failures to typed errors."""

    def __init__(self, http: _RecordingHttp, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
        self._http = http
        self._policy = policy
        self._sleep = sleep

    def send(
        self,
        call: _Call,
        request: Any,
        mode: _Mode,
        resource_names: Sequence[str] = (),
    ) -> Any:
        attempts = 0
        uncertain = False

        def once() -> Any:
            nonlocal attempts, uncertain
            attempts += 1
            self._http.call = replace(call, attempt=attempts)
            try:
                return request.execute(num_retries=0)
            except HttpError as exc:
                error = _classify(call.method, exc)
            except google.auth.exceptions.RefreshError as exc:
                if getattr(exc, "retryable", False):
                    error = _TransientError(
                        "token_refresh", quota=False, may_have_applied=False, retry_after=None
                    )
                else:
                    error = NeedsReconnectError(
                        call.method, "Google refused to refresh the access token; the user must reconnect"
                    )
            except TokenEndpointUnavailableError as exc:
                # GroupSync's own refresh (app.google.tokens) already retried; the call was not sent.
                error = GoogleUnavailableError(
                    call.method, f"the access token could not be refreshed: {exc.outcome}"
                )
            except _TransportFailureError as exc:
                error = _TransientError(
                    exc.outcome,
                    quota=False,
                    may_have_applied=exc.sent and not exc.to_token_endpoint,
                    retry_after=None,
                )
            finally:
                self._http.call = None
            if isinstance(error, _TransientError):
                uncertain = uncertain or error.may_have_applied
                raise error
            if uncertain and mode is not _Mode.READ:
                # An earlier attempt may have been applied, which explains this refusal.
                raise AmbiguousWriteError(
                    call.method, f"an earlier attempt may have been applied; then: {error}", resource_names
                ) from error
            raise error

        def retryable(exc: BaseException) -> bool:
            if not isinstance(exc, _TransientError):
                return False
            return mode is not _Mode.CREATE or not exc.may_have_applied

        backoff = tenacity.wait_exponential(
            multiplier=self._policy.initial_wait, max=self._policy.max_wait
        ) + tenacity.wait_random(0, self._policy.jitter)

        def wait(state: tenacity.RetryCallState) -> float:
            delay = backoff(state)
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, _TransientError) and exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, self._policy.max_retry_after))
            return delay

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._policy.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(once)
        except _TransientError as exc:
            tried = f"after {attempts} attempt(s), last: {exc.outcome}"
            if mode is not _Mode.READ and uncertain:
                raise AmbiguousWriteError(
                    call.method, f"the outcome is unknown {tried}", resource_names
                ) from exc
            if exc.quota:
                raise QuotaExceededError(
                    call.method, f"Google's quota kept refusing the request {tried}"
                ) from exc
            raise GoogleUnavailableError(call.method, f"Google did not answer usably {tried}") from exc


# --------------------------------------------------------------------------- the client


def _categories(fields: Iterable[str]) -> frozenset[DataCategory]:
    return frozenset(_FIELD_CATEGORIES[f] for f in fields)


def _person_fields(fields: Iterable[str]) -> list[str]:
    """The caller's fields plus those the scope decision needs, validated, in a stable order."""
    wanted = set(fields)
    unknown = sorted(wanted - set(_FIELD_CATEGORIES))
    if unknown:
        raise ValueError(f"person field(s) {', '.join(unknown)} are not fields GroupSync reads")
    return sorted(wanted | set(_SCOPE_FIELDS))


def _group_info(group: Mapping[str, Any], marker: ClientDataTag) -> ContactGroupInfo:
    return ContactGroupInfo(
        resource_name=str(group["resourceName"]),
        etag=str(group.get("etag", "")),
        name=str(group.get("name", "")),
        member_count=int(group.get("memberCount", 0)),
        member_resource_names=tuple(group.get("memberResourceNames", ())),
        tagged=marker.found_in(group.get("clientData", ())),
    )


class PeopleClient:
    """Group-level People API calls for one Google account, and the door to its group's contacts.

    Build it per sync run with :meth:`for_settings`. Group lookups register which groups carry
    GroupSync's marker; :meth:`contacts` opens a :class:`GroupContacts` only for such a group.
    """

    def __init__(
        self,
        credentials: Any,
        endpoints: GoogleEndpoints,
        context: RequestContext,
        ledger: GoogleRequestLedger,
        pacer: Pacer,
        *,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """``credentials``: :class:`google.oauth2.credentials.Credentials` with refresh data."""
        self.context = context
        self._http = _RecordingHttp(
            context=context,
            ledger=ledger,
            pacer=pacer,
            timeout=timeout_seconds,
            token_uri=endpoints.token_uri,
        )
        self._service = build(
            "people",
            "v1",
            http=AuthorizedHttp(credentials, http=self._http),
            client_options={"api_endpoint": endpoints.people_api},
            static_discovery=True,
            cache_discovery=False,
        )
        self._sender = _Sender(self._http, retry or RetryPolicy(), sleep or time.sleep)
        self._tagged_groups: set[tuple[str, ClientDataTag]] = set()

    @classmethod
    def for_settings(
        cls, settings: Settings, credentials: Any, context: RequestContext, ledger: GoogleRequestLedger
    ) -> PeopleClient:
        return cls(
            credentials,
            GoogleEndpoints.for_settings(settings),
            context,
            ledger,
            shared_pacer(settings.google_requests_per_minute),
            timeout_seconds=settings.http_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PeopleClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _remember(self, info: ContactGroupInfo, marker: ClientDataTag) -> ContactGroupInfo:
        if info.tagged:
            self._tagged_groups.add((info.resource_name, marker))
        else:
            self._tagged_groups.discard((info.resource_name, marker))
        return info

    def create_group(self, name: str, marker: ClientDataTag) -> ContactGroupInfo:
        """Create GroupSync's group, tagged with ``marker``.

        Raises :class:`GroupNameTakenError` (409) so the caller can try a suffixed name, and
        :class:`AmbiguousWriteError` when the group may exist anyway: then
        :meth:`find_tagged_groups` finds it.
        """
        call = _Call("contactGroups.create", FlowKind.CREATE, _GROUP_CATEGORIES, records=1)
        body = {
            "contactGroup": {"name": name, "clientData": [marker.as_json()]},
            "readGroupFields": _CREATE_GROUP_FIELDS,
        }
        try:
            group = self._sender.send(call, self._service.contactGroups().create(body=body), _Mode.CREATE)
        except RequestRejectedError as exc:
            if exc.status == 409:
                raise GroupNameTakenError(
                    call.method, f"a contact group named {name!r} already exists"
                ) from exc
            raise
        return self._remember(_group_info(group, marker), marker)

    def find_tagged_groups(self, marker: ClientDataTag) -> list[ContactGroupInfo]:
        """The user's contact groups carrying ``marker`` (normally zero or one)."""
        call = _Call("contactGroups.list", FlowKind.READ, _GROUP_CATEGORIES, count_key="contactGroups")
        found: list[ContactGroupInfo] = []
        page_token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"pageSize": MAX_PAGE_SIZE, "groupFields": _GROUP_FIELDS}
            if page_token:
                kwargs["pageToken"] = page_token
            page = self._sender.send(call, self._service.contactGroups().list(**kwargs), _Mode.READ)
            for group in page.get("contactGroups", ()):
                info = _group_info(group, marker)
                if info.tagged:
                    found.append(self._remember(info, marker))
            page_token = page.get("nextPageToken")
            if not page_token:
                return found

    def get_group(
        self, resource_name: str, marker: ClientDataTag, *, max_members: int = 0
    ) -> ContactGroupInfo | None:
        """One group, with up to ``max_members`` member names; ``None`` when it no longer exists."""
        categories = _GROUP_CATEGORIES | ({DataCategory.MEMBERSHIPS} if max_members else set())
        call = _Call(
            "contactGroups.get",
            FlowKind.READ,
            frozenset(categories),
            count_key="memberResourceNames" if max_members else None,
            records=1,
        )
        try:
            group = self._sender.send(
                call,
                self._service.contactGroups().get(
                    resourceName=resource_name, maxMembers=max_members, groupFields=_GROUP_FIELDS
                ),
                _Mode.READ,
            )
        except RequestRejectedError as exc:
            if exc.status == 404:
                self._tagged_groups.discard((resource_name, marker))
                return None
            raise
        return self._remember(_group_info(group, marker), marker)

    def contacts(self, scope: GroupScope) -> GroupContacts:
        """The contacts of GroupSync's group; the group must have been seen carrying the marker."""
        self._require_tagged(scope, "contacts")
        return GroupContacts(self, scope)

    def _require_tagged(self, scope: GroupScope, method: str) -> None:
        if (scope.group_resource_name, scope.marker) not in self._tagged_groups:
            raise ScopeViolationError(
                method,
                f"{scope.group_resource_name} was not seen carrying GroupSync's marker by this client",
                (scope.group_resource_name,),
            )

    def count_contacts(self) -> int:
        """How many contacts the account holds, for Google's per-account limit.

        ``connections.list`` is the only method that answers it; a page of one person with only
        ``metadata`` (the API requires some field) is the least it lets us read, and that person
        is dropped here.
        """
        call = _Call(
            "people.connections.list", FlowKind.READ, _categories(["metadata"]), count_key="connections"
        )
        page = self._sender.send(
            call,
            self._service.people()
            .connections()
            .list(resourceName="people/me", pageSize=1, personFields="metadata"),
            _Mode.READ,
        )
        return _total(page)

    def open_group(self, scope: GroupScope) -> tuple[GroupContacts, ContactGroupInfo]:
        """The group's contacts with every member in scope, from one read of the group.

        :meth:`GroupContacts.list_members` checks the marker before anything is put in scope,
        so this is :meth:`get_group` plus :meth:`contacts` plus ``list_members`` in one request.
        """
        contacts = GroupContacts(self, scope)
        return contacts, contacts.list_members()


@dataclass
class _Seen:
    in_group: bool
    tagged: bool
    etag: str | None = None
    sources: list[Any] = field(default_factory=list)


class GroupContacts:
    """Reads and writes of the contacts in one GroupSync group — and of nothing else.

    Obtain it from :meth:`PeopleClient.contacts`. See the module docstring for the rules.
    Every write also checks that the client saw the group carrying the marker (and not gone
    since), so an instance built any other way still cannot write into a group of the user's.
    """

    def __init__(self, client: PeopleClient, scope: GroupScope) -> None:
        self.scope = scope
        self._client = client
        self._people = client._service.people()
        self._groups = client._service.contactGroups()
        self._send = client._sender.send
        self._seen: dict[str, _Seen] = {}

    def is_verified(self, resource_name: str) -> bool:
        """Whether this client may modify or delete the contact (seen in the group and tagged)."""
        seen = self._seen.get(resource_name)
        return seen is not None and seen.in_group and seen.tagged and seen.etag is not None

    def _observe(self, person: Mapping[str, Any]) -> FetchedPerson:
        resource_name = str(person["resourceName"])
        groups = tuple(_membership_groups(person.get("memberships", ())))
        metadata = person.get("metadata") or {}
        fetched = FetchedPerson(
            resource_name=resource_name,
            etag=str(person.get("etag", "")),
            person=dict(person),
            in_group=self.scope.group_resource_name in groups,
            tagged=self.scope.marker.found_in(person.get("clientData", ())),
            group_memberships=groups,
        )
        for previous in metadata.get("previousResourceNames", ()):
            self._seen.pop(previous, None)
        if fetched.in_group or fetched.tagged:
            self._seen[resource_name] = _Seen(
                fetched.in_group, fetched.tagged, fetched.etag or None, list(metadata.get("sources", ()))
            )
        else:
            self._seen.pop(resource_name, None)
        return fetched

    def _refuse_unless(
        self, method: str, names: Iterable[str], allowed: Callable[[str], bool], why: str
    ) -> None:
        refused = [n for n in names if not allowed(n)]
        if refused:
            raise ScopeViolationError(
                method, f"{len(refused)} contact(s) {why}: {', '.join(refused[:5])}", refused
            )

    def list_members(self) -> ContactGroupInfo:
        """The group with every member's resource name; puts them in scope for reading.

        Raises :class:`GroupDeletedError` when the user deleted the group.
        """
        info = self._client.get_group(
            self.scope.group_resource_name, self.scope.marker, max_members=MAX_GROUP_MEMBERS
        )
        if info is None:
            raise GroupDeletedError("contactGroups.get", f"{self.scope.group_resource_name} no longer exists")
        if not info.tagged:
            raise ScopeViolationError(
                "contactGroups.get", "the group no longer carries GroupSync's marker", (info.resource_name,)
            )
        members = set(info.member_resource_names)
        for name, seen in self._seen.items():
            seen.in_group = name in members
        for name in members - self._seen.keys():
            self._seen[name] = _Seen(in_group=True, tagged=False)
        return info

    def batch_get(self, resource_names: Sequence[str], person_fields: Iterable[str]) -> BatchGetResult:
        """Read contacts of the group (chunked by 200); only names put in scope earlier may be read."""
        method = "people.getBatchGet"
        self._refuse_unless(
            method, resource_names, self._seen.__contains__, "are not known members of the group"
        )
        fields = _person_fields(person_fields)
        call = _Call(method, FlowKind.READ, _categories(fields), count_key="responses")
        found: dict[str, FetchedPerson] = {}
        missing: list[str] = []
        for chunk in _chunks(resource_names, MAX_BATCH_GET):
            answer = self._send(
                call,
                self._people.getBatchGet(resourceNames=list(chunk), personFields=",".join(fields)),
                _Mode.READ,
            )
            for item in answer.get("responses", ()):
                requested = str(item.get("requestedResourceName", ""))
                person = item.get("person")
                if person and int(item.get("httpStatusCode", 200)) == 200:
                    found[requested] = self._observe(person)
                else:
                    self._seen.pop(requested, None)
                    missing.append(requested)
        return BatchGetResult(found, tuple(missing))

    def batch_create(self, persons: Sequence[Person]) -> list[WriteResult]:
        """Create up to 200 contacts inside the group; each must carry the marker.

        Never retried after a failure that may have been applied: such a failure raises
        :class:`AmbiguousWriteError` and the caller adopts what exists on its next run.
        """
        method = "people.batchCreateContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, persons, MAX_BATCH_CREATE)
        contacts = [{"contactPerson": self._create_body(method, i, p)} for i, p in enumerate(persons)]
        fields = {f for p in persons for f in p} | set(_SCOPE_FIELDS)
        call = _Call(method, FlowKind.CREATE, _categories(fields), records=len(persons))
        answer = self._send(
            call,
            self._people.batchCreateContacts(body={"contacts": contacts, "readMask": _SCOPE_MASK}),
            _Mode.CREATE,
        )
        return [self._write_result(i, None, item) for i, item in enumerate(answer.get("createdPeople", ()))]

    def _create_body(self, method: str, index: int, person: Mapping[str, Any]) -> Person:
        unknown = sorted(set(person) - UPDATABLE_FIELDS - {"clientData", "memberships"})
        if unknown:
            raise ValueError(f"contact {index}: field(s) {', '.join(unknown)} cannot be written by GroupSync")
        if not self.scope.marker.found_in(person.get("clientData", ())):
            raise ScopeViolationError(method, f"contact {index} does not carry GroupSync's marker clientData")
        ours = [{"contactGroupMembership": {"contactGroupResourceName": self.scope.group_resource_name}}]
        if "memberships" in person and list(_membership_groups(person["memberships"])) != [
            self.scope.group_resource_name
        ]:
            raise ScopeViolationError(
                method, f"contact {index} would be created in a group other than GroupSync's"
            )
        return {**person, "memberships": ours}

    def _write_result(self, index: int, requested: str | None, item: Mapping[str, Any]) -> WriteResult:
        status = item.get("status") or {}
        code = int(item.get("httpStatusCode", status.get("code") or 200))
        person = item.get("person")
        fetched = self._observe(person) if person and code == 200 else None
        return WriteResult(index, requested, code, str(status.get("message", "")), fetched)

    def batch_update(self, persons: Mapping[str, Person], update_fields: Iterable[str]) -> list[WriteResult]:
        """Update up to 200 verified contacts; only ``update_fields`` (owned fields) change.

        The etag and ``metadata.sources`` of this client's latest read are sent with each
        contact, so a contact changed in Google since then fails with :class:`StaleEtagError`.
        """
        method = "people.batchUpdateContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, persons, MAX_BATCH_UPDATE)
        mask = sorted(set(update_fields))
        beyond = sorted(set(mask) - UPDATABLE_FIELDS) + sorted(
            {f for p in persons.values() for f in p} - set(mask)
        )
        if beyond or not mask:
            raise ValueError(
                f"an update may send and mask only owned fields ({', '.join(sorted(UPDATABLE_FIELDS))});"
                f" offending: {', '.join(beyond) or 'empty mask'}"
            )
        self._refuse_unless(method, persons, self.is_verified, "are not verified members of the group")
        contacts = {
            name: {**person, "etag": self._seen[name].etag, "metadata": {"sources": self._seen[name].sources}}
            for name, person in persons.items()
        }
        call = _Call(method, FlowKind.UPDATE, _categories([*mask, *_SCOPE_FIELDS]), records=len(persons))
        body = {"contacts": contacts, "updateMask": ",".join(mask), "readMask": _SCOPE_MASK}
        answer = self._send(
            call, self._people.batchUpdateContacts(body=body), _Mode.IDEMPOTENT_WRITE, list(persons)
        )
        results = answer.get("updateResult", {})
        return [
            self._write_result(
                i, name, results.get(name, {"httpStatusCode": 404, "status": {"message": "missing"}})
            )
            for i, name in enumerate(persons)
        ]

    def batch_delete(self, resource_names: Sequence[str]) -> None:
        """Delete up to 500 verified contacts from Google."""
        method = "people.batchDeleteContacts"
        self._client._require_tagged(self.scope, method)
        _check_size(method, resource_names, MAX_BATCH_DELETE)
        self._refuse_unless(method, resource_names, self.is_verified, "are not verified members of the group")
        call = _Call(method, FlowKind.DELETE, frozenset(), records=len(resource_names))
        self._send(
            call,
            self._people.batchDeleteContacts(body={"resourceNames": list(resource_names)}),
            _Mode.IDEMPOTENT_WRITE,
            resource_names,
        )
        for name in resource_names:
            self._seen.pop(name, None)

    def modify_members(self, add: Sequence[str] = (), remove: Sequence[str] = ()) -> MembersResult:
        """Add contacts to / remove them from GroupSync's group only (``members:modify``).

        Other memberships of a contact are never touched. Removing needs a verified contact;
        adding needs a contact seen carrying GroupSync's marker (one GroupSync created, e.g.
        one the user took out of the group), so no contact of the user's own is ever pulled in.
        """
        method = "contactGroups.members.modify"
        self._client._require_tagged(self.scope, method)
        _check_size(method, [*add, *remove], MAX_MEMBER_CHANGES)
        self._refuse_unless(
            method, add, lambda n: n in self._seen and self._seen[n].tagged, "do not carry GroupSync's marker"
        )
        self._refuse_unless(method, remove, self.is_verified, "are not verified members of the group")
        call = _Call(
            method, FlowKind.MEMBERSHIP, frozenset({DataCategory.MEMBERSHIPS}), records=len(add) + len(remove)
        )
        body = {"resourceNamesToAdd": list(add), "resourceNamesToRemove": list(remove)}
        try:
            answer = self._send(
                call,
                self._groups.members().modify(resourceName=self.scope.group_resource_name, body=body),
                _Mode.IDEMPOTENT_WRITE,
                [*add, *remove],
            )
        except RequestRejectedError as exc:
            if exc.status == 404:
                raise GroupDeletedError(method, f"{self.scope.group_resource_name} no longer exists") from exc
            raise
        result = MembersResult(
            tuple(answer.get("notFoundResourceNames", ())),
            tuple(answer.get("canNotRemoveLastContactGroupResourceNames", ())),
        )
        for name in add:
            if name not in result.not_found:
                self._seen[name].in_group = True
        for name in remove:
            if name not in result.not_found and name not in result.cannot_remove_last_group:
                self._seen[name].in_group = False
        return result

    def list_connections(
        self, person_fields: Iterable[str], sync_token: str | None = None, *, request_sync_token: bool = True
    ) -> ConnectionsResult:
        """List the account's contacts (all pages of 1,000), keeping only the group's and tagged ones.

        With ``sync_token`` only contacts changed since come back. Raises
        :class:`SyncTokenExpiredError` when Google wants a full listing.
        """
        fields = _person_fields(person_fields)
        call = _Call("people.connections.list", FlowKind.READ, _categories(fields), count_key="connections")
        people: list[FetchedPerson] = []
        deleted: list[str] = []
        total: int | None = None
        page_token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "resourceName": "people/me",
                "pageSize": MAX_PAGE_SIZE,
                "personFields": ",".join(fields),
                "requestSyncToken": request_sync_token,
            }
            if sync_token:
                kwargs["syncToken"] = sync_token
            if page_token:
                kwargs["pageToken"] = page_token
            page = self._send(call, self._people.connections().list(**kwargs), _Mode.READ)
            if not sync_token and not page_token:
                # Only a full listing counts the whole account (an incremental one counts changes).
                total = _total(page)
            for person in page.get("connections", ()):
                if (person.get("metadata") or {}).get("deleted"):
                    deleted.append(str(person["resourceName"]))
                    self._seen.pop(str(person["resourceName"]), None)
                    continue
                fetched = self._observe(person)
                if fetched.in_group or fetched.tagged:
                    people.append(fetched)
            page_token = page.get("nextPageToken")
            if not page_token:
                return ConnectionsResult(people, tuple(deleted), page.get("nextSyncToken"), total)


def _total(page: Mapping[str, Any]) -> int:
    # Google leaves zero values out of its JSON; totalItems replaces the deprecated totalPeople.
    return int(page.get("totalItems", 0))


def _membership_groups(memberships: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for membership in memberships:
        group = membership.get("contactGroupMembership")
        if not group:
            continue
        name = group.get("contactGroupResourceName")
        if name is None and group.get("contactGroupId"):
            name = f"contactGroups/{group['contactGroupId']}"
        if name:
            yield str(name)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_size(method: str, items: Sized, limit: int) -> None:
    if len(items) > limit:
        raise ValueError(f"{method} takes at most {limit} items per request (got {len(items)})")
