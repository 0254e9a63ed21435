"""The only path from GroupSync to Google: every request is paced, timed and recorded ahead.

One :class:`GoogleTransport` sends every request GroupSync makes to Google — People API
calls, the token endpoint (code exchange and refresh), revocation and the fetch of Google's
ID-token signing certificates. For each request it:

1. waits for the Google account's pacing slot (:mod:`app.google.pacing`, in Google's quota
   units; no database transaction is open while it waits);
2. commits a ``google.request_started`` ledger entry on the ledger's own session
   (:class:`~app.ledger.services.GoogleRequestLedger`), so a process killed mid-request still
   leaves it in the ledger;
3. sends it once on ``requests`` (whose adapter performs no retries) with GroupSync's timeout;
   a mutation always opens a fresh connection, so a kept-alive socket the server already
   closed cannot fake an ambiguous failure;
4. records the outcome (HTTP status, or ``timeout``/``connect_failed``/``connection_dropped``,
   or ``aborted`` when the process was interrupted) and tells the pacer of a 429.

Two adapters let the Google libraries use it: :class:`PeopleHttp` speaks httplib2's
``request()`` (google-api-python-client and google-auth-httplib2), and :class:`AuthRequest`
is a :class:`google.auth.transport.Request` (google-auth's token refresh and ID-token check).
httplib2 itself is never used to send: it silently resends a request whose connection dropped
before the answer ("regardless of the number of RETRIES set"), which would twin a create.

Retrying is not done here: :mod:`app.google.retry` decides, and each attempt comes back
through this module as a request of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.exceptions
import google.auth.transport
import httplib2
import orjson
import requests
from googleapiclient.http import MAX_URI_LENGTH
from urllib3.exceptions import NewConnectionError

from app.google.limits import NO_COST, Cost, request_cost
from app.google.member_names import MEMBERS_KEY, MemberNames, parse_group_answer
from app.google.pacing import Pacer, Slot
from app.google.retry import (
    Mode,
    PeopleAttempts,
    RetryControllers,
    RetryPolicy,
    Sleep,
    TransportFailureError,
    refused_bucket,
    retry_after_seconds,
    transient_answer,
)
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.services import GoogleRequestLedger, StartedRequest
from app.ops import metrics


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    """Lower-cased names."""
    content: bytes
    parsed: Any = None
    """The JSON body, when the transport parsed it to count the records read; else ``None``."""


class GoogleTransport:
    """Sends requests to Google for one caller; ``pacing_key`` is the Google account paced (its ``sub``).

    Not thread-safe (one ``requests`` session); use one per run or per operation and close it.
    """

    def __init__(
        self,
        ledger: GoogleRequestLedger,
        *,
        timeout: float,
        pacer: Pacer | None = None,
        pacing_key: str | None = None,
    ) -> None:
        self.timeout = timeout
        self._ledger = ledger
        self._pacer = pacer
        self._pacing_key = pacing_key
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> GoogleTransport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(
        self,
        flow: Flow,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cost: Cost = NO_COST,
        count_key: str | None = None,
        to_token_endpoint: bool = False,
    ) -> Answer:
        """Send one request recorded as ``flow`` (its outcome and, with ``count_key``, records filled in).

        Raises :class:`~app.google.retry.TransportFailureError` when no answer arrived.
        """
        with self._slot(cost) as slot:
            started = self._ledger.start(flow)
            try:
                answer = self._attempt(method, url, body, headers, to_token_endpoint)
            except TransportFailureError as failure:
                self._finish(started.ended(failure.outcome, records=0), started)
                raise
            except BaseException:
                # Interrupted here (a worker's time limit, a shutdown): the request may or may not have left.
                self._finish(started.ended("aborted", records=0), started)
                raise
            records = flow.records
            if count_key is not None:
                records, parsed = _count(answer, count_key)
                answer = replace(answer, parsed=parsed)
            self._finish(started.ended(str(answer.status), records=records), started)
            if slot is not None:
                quota, bucket = refused_bucket(answer.status, answer.content)
                if quota:
                    slot.refuse(bucket, retry_after_seconds(answer.headers.get("retry-after")))
            return answer

    def send_leaving_outcome(
        self, flow: Flow, method: str, url: str, *, body: bytes, headers: Mapping[str, str]
    ) -> tuple[StartedRequest, Answer | TransportFailureError]:
        """Send a request whose outcome only the caller can attribute (the code exchange: whose it was).

        The started entry is committed first as always; the caller records the outcome with
        :meth:`~app.ledger.services.GoogleRequestLedger.finish`. Not paced: no account is known yet.
        """
        started = self._ledger.start(flow)
        try:
            return started, self._attempt(method, url, body, headers, True)
        except TransportFailureError as failure:
            return started, failure
        except BaseException:
            self._finish(started.ended("aborted", records=0), started)
            raise

    def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        to_token_endpoint: bool,
    ) -> Answer:
        if method != "GET":
            # A fresh connection: a failure is then the server's answer, not a stale keep-alive.
            self._session.close()
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=dict(headers or {}),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _failure(exc, to_token_endpoint) from exc
        return Answer(
            response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
        )

    def _slot(self, cost: Cost) -> AbstractContextManager[Slot | None]:
        if self._pacer is None or self._pacing_key is None:
            return nullcontext()
        return self._pacer.slot(self._pacing_key, cost)

    def _finish(self, outcome: Flow, started: StartedRequest) -> None:
        attempt = outcome.detail.get("attempt", 1)
        metrics.observe_google_request(outcome.method or "", outcome.outcome, int(attempt))
        self._ledger.finish(started, outcome)


def _failure(exc: requests.RequestException, to_token: bool) -> TransportFailureError:
    if isinstance(exc, requests.ConnectTimeout):
        return TransportFailureError("connect_timeout", sent=False, to_token_endpoint=to_token)
    if isinstance(exc, requests.Timeout):
        return TransportFailureError("timeout", sent=True, to_token_endpoint=to_token)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError) or isinstance(exc, requests.exceptions.InvalidURL):
        return TransportFailureError("connect_failed", sent=False, to_token_endpoint=to_token)
    return TransportFailureError("connection_dropped", sent=True, to_token_endpoint=to_token)


_LARGE_ANSWER = 256 * 1024
"""Bytes from which an answer is parsed by the standard library (see :func:`_count`)."""


def _count(answer: Answer, key: str) -> tuple[int, Any]:
    """How many records the answer's ``key`` list holds, and the parsed body (``None`` if not JSON)."""
    if answer.status != 200:
        return 0, None
    try:
        content = answer.content
        # A group's member list (up to 25,000 names in one answer) is the one answer that grows
        # with the list, and it must not set a run's peak memory: its names are read packed.
        body = parse_group_answer(content) if key == MEMBERS_KEY else None
        if body is None:
            # orjson sets aside several times a document's size while it parses; the standard
            # parser only what it returns.
            body = orjson.loads(content) if len(content) < _LARGE_ANSWER else json.loads(content)
    except ValueError:
        return 0, None
    items = body.get(key, ()) if isinstance(body, dict) else ()
    return (len(items) if isinstance(items, list | MemberNames) else 0), body


# --------------------------------------------------------------------------- People API (httplib2 interface)


@dataclass(frozen=True)
class RequestContext:
    """Who and what People API requests are for; copied into every ledger entry."""

    account_id: int
    user_id: int | None
    google_sub: str
    trigger: Trigger
    actor: str
    """``system`` or ``user:<id>``."""
    purpose: Purpose = Purpose.CONTACT_SYNC


@dataclass(frozen=True)
class Call:
    """How a People API call is attributed in the ledger."""

    method: str
    kind: FlowKind
    categories: frozenset[DataCategory]
    records: int = 0
    count_key: str | None = None
    """Response list whose length is the record count (reads), instead of ``records``."""
    attempt: int = 1


TOKEN_REFRESH = Call(
    method="oauth2.token.refresh",
    kind=FlowKind.TOKEN,
    categories=frozenset({DataCategory.OAUTH_TOKENS}),
    records=1,
)


class PeopleHttp:
    """httplib2's ``request()`` over :class:`GoogleTransport`, for google-api-python-client.

    Every request must happen inside :meth:`attributed` (which names the call for the ledger),
    except google-auth's token refresh, which it recognises by the token URI.
    """

    def __init__(self, transport: GoogleTransport, context: RequestContext, token_uri: str) -> None:
        self._transport = transport
        self._context = context
        self._token_uri = token_uri
        self._call: Call | None = None
        self._parsed: tuple[bytes, Any] | None = None

    def parsed(self, content: bytes | str) -> Any:
        """The body of the answer just returned, if the transport parsed it already; else ``None``.

        The client library parses the answer it gets again; this way a batch read of 200
        contacts is parsed once (:class:`~app.google.json_model.OrjsonModel` asks here first).
        """
        known, self._parsed = self._parsed, None
        return known[1] if known is not None and known[0] is content else None

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    def close(self) -> None:
        self._transport.close()

    @contextmanager
    def attributed(self, call: Call) -> Iterator[None]:
        self._call = call
        try:
            yield
        finally:
            self._call = None

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> tuple[httplib2.Response, bytes]:
        to_token = uri.split("?", 1)[0] == self._token_uri
        call = TOKEN_REFRESH if to_token else self._call
        if call is None:
            raise RuntimeError(
                "a People API request outside a client call cannot be attributed in the ledger"
            )
        cost = NO_COST if to_token else request_cost(call.method, full_listing_start=_full_listing_start(uri))
        answer = self._transport.send(
            self._flow(call),
            method,
            uri,
            body=body.encode("utf-8") if isinstance(body, str) else body,
            headers=headers,
            cost=cost,
            count_key=call.count_key,
            to_token_endpoint=to_token,
        )
        self._parsed = (answer.content, answer.parsed) if answer.parsed is not None else None
        info = dict(answer.headers)
        info["status"] = str(answer.status)
        return httplib2.Response(info), answer.content

    def _flow(self, call: Call) -> Flow:
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


# Not every Python version caches (nor does typeshed say it does).
_forget_split_addresses: Callable[[], None] = getattr(urlsplit, "cache_clear", lambda: None)


class PeopleSender:
    """Runs one People API call over :class:`PeopleHttp`, each attempt attributed in the ledger.

    :mod:`app.google.retry` decides what is tried again and what a failure means.
    """

    def __init__(
        self,
        http: PeopleHttp,
        policy: RetryPolicy,
        sleep: Sleep,
        *,
        over: Any,
        model: Any,
        refresh_unavailable: type[Exception] | None = None,
    ) -> None:
        """``over``: the authorized HTTP each request is executed over, wrapping ``http``;
        ``model``: the library model that parses its answers (both the run's own: the
        library's resources are shared, see :mod:`app.google.resources`)."""
        self._http = http
        self._controllers = RetryControllers(policy, sleep)
        self._refresh_unavailable = refresh_unavailable
        self._over = over
        self._model = model

    def send(self, call: Call, request: Any, mode: Mode, resource_names: Sequence[str] = ()) -> Any:
        """Execute a google-api-python-client ``request`` for ``call``; retries per ``mode``."""

        # The library sends a GET whose address is too long as a POST, splitting the address
        # with the standard library, which keeps the last 128 addresses it split. A batch read's
        # address names 200 contacts (8 KB): kept, they would grow a run's memory by 2 MiB.
        long_address = len(request.uri) > MAX_URI_LENGTH

        def execute(attempt: int) -> Any:
            with self._http.attributed(replace(call, attempt=attempt)):
                request.postproc = self._model.response
                try:
                    return request.execute(http=self._over, num_retries=0)
                finally:
                    if long_address:
                        _forget_split_addresses()

        attempts = PeopleAttempts(
            call.method,
            mode,
            execute,
            resource_names=resource_names,
            refresh_unavailable=self._refresh_unavailable,
        )
        return attempts.run(self._controllers)


def _full_listing_start(uri: str) -> bool:
    query = parse_qs(urlsplit(uri).query)
    return "syncToken" not in query and "pageToken" not in query


# --------------------------------------------------------------------------- google-auth interface


class _AuthResponse(google.auth.transport.Response):
    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    @property
    def status(self) -> int:
        return self._answer.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    @property
    def data(self) -> bytes:
        return self._answer.content


class AuthTransportError(google.auth.exceptions.TransportError):
    """No answer arrived; ``outcome`` is the ledger's word for how the request failed."""

    def __init__(self, outcome: str) -> None:
        super().__init__(f"Google could not be reached: {outcome}")  # type: ignore[no-untyped-call]
        self.outcome = outcome


class AuthRequest(google.auth.transport.Request):
    """google-auth's request interface over :class:`GoogleTransport`, every request recorded as ``flow``.

    With ``raise_transient`` a 429 or 5xx answer raises :class:`~app.google.retry.TransientError`
    instead of being returned, so google-auth's own retry loop (which ignores Retry-After and
    sleeps where tests cannot see) never runs and :mod:`app.google.retry` decides alone.
    """

    def __init__(self, transport: GoogleTransport, flow: Flow, *, raise_transient: bool = False) -> None:
        self._transport = transport
        self._flow = flow
        self._raise_transient = raise_transient

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        try:
            answer = self._transport.send(
                self._flow,
                method,
                url,
                body=body.encode("utf-8") if isinstance(body, str) else body,
                headers=headers,
                to_token_endpoint=True,
            )
        except TransportFailureError as exc:
            raise AuthTransportError(exc.outcome) from exc
        if self._raise_transient:
            transient = transient_answer(answer.status, answer.headers)
            if transient is not None:
                raise transient
        return _AuthResponse(answer)

    def with_flow(self, flow: Flow) -> AuthRequest:
        return AuthRequest(self._transport, flow, raise_transient=self._raise_transient)


def attempt_flow(flow: Flow, attempt: int) -> Flow:
    """``flow`` naming which attempt of a retried operation it is."""
    return replace(flow, detail={**flow.detail, "attempt": attempt})
