"""Rate limits of the CRM-facing API (``/api/v1``), with Flask-Limiter.

Three limits, each per minute, shared by every operation of the API:

* per API key (the SHA-256 of the bearer secret, never the secret itself, is the counter's
  name, so no key reaches the storage in plain text);
* per client address (what ``GROUPSYNC_PROXY_HOPS`` makes ``request.remote_addr``);
* per client address, counting only answers 401: guessing keys is stopped long before the
  address limit, while a CRM using a good key is not slowed.

An exceeded limit is answered 429 in the API's JSON error format with ``Retry-After`` (seconds)
and the ``X-RateLimit-*`` headers. Counters live in memory (one process: the embedded default)
or in Redis (``GROUPSYNC_RATE_LIMIT_STORAGE_URL``), which several web processes and machines
then share. Pages outside ``/api/v1`` are not limited here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Flask, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address

from app.config import Settings

API_PREFIX = "/api/v1"


def _outside_api() -> bool:
    return not (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"))


def _api_key() -> str:
    """The counter of the presented key: a hash, so the storage never holds a secret."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return f"address:{get_remote_address()}"
    return "key:" + hashlib.sha256(secret.strip().encode()).hexdigest()


def _refused_key(response: object) -> bool:
    return getattr(response, "status_code", None) == 401


def init_app(app: Flask, settings: Settings) -> Limiter:
    """One limiter per application (tests build several apps in one process)."""
    limits: list[str | Callable[[], str] | ApplicationLimit] = [
        ApplicationLimit(
            f"{settings.api_requests_per_minute_per_key}/minute",
            key_function=_api_key,
            scope="api-key",
            exempt_when=_outside_api,
        ),
        ApplicationLimit(
            f"{settings.api_requests_per_minute_per_address}/minute",
            key_function=get_remote_address,
            scope="api-address",
            exempt_when=_outside_api,
        ),
        ApplicationLimit(
            f"{settings.api_refused_keys_per_minute}/minute",
            key_function=get_remote_address,
            scope="api-refused-key",
            exempt_when=_outside_api,
            deduct_when=_refused_key,
        ),
    ]
    limiter = Limiter(
        get_remote_address,
        application_limits=limits,
        storage_uri=settings.rate_limit_storage_url,
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix="groupsync",
        strategy="fixed-window",
    )
    limiter.init_app(app)
    return limiter


def reset(app: Flask) -> None:
    """Forget every counter (tests: each starts with a full allowance)."""
    limiter = app.extensions.get("limiter")
    for each in limiter if isinstance(limiter, set) else [limiter]:
        if isinstance(each, Limiter):
            each.reset()
