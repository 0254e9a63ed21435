"""Acting for a Workspace domain's users through domain-wide delegation.

A service account signs a JWT (RFC 7523) naming the user (``sub``), the contacts scope and
Google's token URI as audience, valid one hour; Google's token endpoint answers with an access
token for that user. Who signs:

* the customer's own service account: the key the admin uploaded, sealed in the vault and
  opened here only to sign (:class:`KeySigner`);
* the installation's service account, configured by the operator: its key file, or keyless,
  the IAM Credentials ``signJwt`` API called with the runtime's own identity (:class:`IamSigner`).

:func:`request_token` is the one place a JWT-bearer token request is made. Like a refresh
(:mod:`app.google.tokens`), it goes through the one transport (:mod:`app.google.transport`:
paced, timed, recorded in the ledger before it is sent) and is retried only as
:data:`app.google.retry.TOKEN_POLICY` says; keyless signing's own requests go the same way.
Access tokens are sealed per user in that user's :class:`GoogleConnection`, so a user's token
is minted at most once per lifetime (an hour), whichever worker asks.

:class:`DomainCredentialsSource` implements :class:`~app.google.credentials.CredentialsSource`
for connections that run through a domain; :class:`RoutingCredentialsSource` picks, per
connection, between it and the user's own OAuth grant.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.oauth2 import _client as google_oauth_client
from google.oauth2.credentials import Credentials
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import DbSession, unit_of_work, utcnow
from app.extensions import N_
from app.google import domain_models
from app.google.credentials import ConnectionUnusableError, UserOAuthCredentialsSource
from app.google.domain_models import DomainConnection, DomainMode, DomainProblem
from app.google.endpoints import CONTACTS_SCOPE, GoogleEndpoints
from app.google.models import GoogleConnection, StatusReason
from app.google.retry import TOKEN_POLICY, TransientError, retrying
from app.google.services import PeopleCallForbiddenError, ensure_usable
from app.google.tokens import (
    CallContext,
    Sleep,
    TokenEndpointUnavailableError,
    TokenHolder,
    token_flow,
    token_transport,
)
from app.google.transport import AuthRequest, AuthTransportError, GoogleTransport, attempt_flow
from app.google.vault import AccessToken, TokenUnreadableError, TokenVault, report_unreadable
from app.ledger.events import EventTag, Purpose, Trigger
from app.ledger.services import record

JWT_BEARER_METHOD = "oauth2.token.jwt_bearer"
SIGN_JWT_METHOD = "iamcredentials.signJwt"
RUNTIME_TOKEN_METHOD = "oauth2.token.runtime"  # noqa: S105 (a method name)
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
"""Google checks the assertion's ``aud`` against its own token URI, wherever the request is sent."""
ASSERTION_LIFETIME = 3600
"""Google's maximum, so a token (also valid an hour) is asked for at most once an hour per user."""
REUSE_MARGIN = timedelta(minutes=5)
"""A stored token with less than this left is not handed out (google-auth refreshes 3 min 45 s early)."""
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"

_USER_PROBLEMS = frozenset({DomainProblem.USER_NOT_IN_DOMAIN, DomainProblem.USER_DELETED})
"""Problems of one user, not of the domain connection: that user's syncs stop, the others go on."""


class KeyFileError(ValueError):
    """An uploaded key file GroupSync cannot use; the message names what is wrong (never the key).

    ``msgid`` (marked with ``N_``) and ``params`` let the admin's page show it in their language;
    ``str()`` is the English text.
    """

    def __init__(self, msgid: str, **params: str) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True)
class ServiceAccountKey:
    client_email: str
    client_id: str
    private_key_id: str
    project_id: str
    private_key: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> ServiceAccountKey:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise KeyFileError(
                N_("the file is not JSON: upload the key file the Cloud console downloaded")
            ) from None
        if not isinstance(data, dict):
            raise KeyFileError(N_("the file is not a service account key (a JSON object is expected)"))
        if data.get("type") != "service_account":
            raise KeyFileError(N_('"type" is not "service_account": this is not a service account key file'))
        values: dict[str, str] = {}
        for name in ("client_email", "client_id", "private_key_id", "project_id", "private_key"):
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise KeyFileError(N_('"%(name)s" is missing from the key file'), name=name)
            values[name] = value.strip()
        if not re.fullmatch(r"[^@\s]+@[a-z0-9-]+\.iam\.gserviceaccount\.com", values["client_email"]):
            raise KeyFileError(N_('"client_email" is not a service account address'))
        if not values["client_id"].isdigit():
            raise KeyFileError(N_('"client_id" is not the numeric id of a service account'))
        try:
            key = serialization.load_pem_private_key(values["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise KeyFileError(N_('"private_key" is not a readable PEM private key')) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyFileError(N_('"private_key" is not an RSA key'))
        return cls(**values)

    def to_json(self) -> str:
        """What is sealed: the fields GroupSync uses, nothing else from the uploaded file."""
        return json.dumps(
            {
                "type": "service_account",
                "client_email": self.client_email,
                "client_id": self.client_id,
                "private_key_id": self.private_key_id,
                "project_id": self.project_id,
                "private_key": self.private_key,
            }
        )


class Signer(Protocol):
    client_email: str

    def sign(self, claims: Mapping[str, Any], ledger: SigningContext) -> str: ...


@dataclass(frozen=True)
class SigningContext:
    """What a signer needs if signing is itself a Google request (keyless): the token request's
    transport, and whose and which attempt it is, for the ledger."""

    transport: GoogleTransport
    holder: TokenHolder
    context: CallContext
    settings: Settings
    attempt: int = 1

    def request(self, method: str) -> AuthRequest:
        """google-auth's request interface for one ``method``, recorded in the ledger as this attempt."""
        flow = token_flow(self.holder, self.context, EventTag.GOOGLE_REQUEST, "started", method=method)
        return AuthRequest(self.transport, attempt_flow(flow, self.attempt), raise_transient=True)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KeySigner:
    def __init__(self, key: ServiceAccountKey) -> None:
        self.client_email = key.client_email
        self._key = key

    def sign(self, claims: Mapping[str, Any], ledger: SigningContext) -> str:
        private = serialization.load_pem_private_key(self._key.private_key.encode(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)  # checked by ServiceAccountKey.parse
        header = {"alg": "RS256", "typ": "JWT", "kid": self._key.private_key_id}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


class IamSigner:
    """Keyless: the IAM Credentials API signs as the installation's service account, called with
    the runtime's own identity (which needs the Token Creator role on it). Both the runtime's
    token request and the ``signJwt`` call go through the ledger."""

    def __init__(self, client_email: str, runtime: Any = None) -> None:
        self.client_email = client_email
        self._runtime = runtime

    def _runtime_credentials(self) -> Any:
        if self._runtime is None:
            try:
                self._runtime, _ = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
            except google.auth.exceptions.DefaultCredentialsError as exc:
                raise DomainTokenError(
                    DomainProblem.NOT_CONFIGURED, f"the runtime has no Google identity to sign with: {exc}"
                ) from None
        return self._runtime

    def sign(self, claims: Mapping[str, Any], ledger: SigningContext) -> str:
        runtime = self._runtime_credentials()
        if not runtime.valid:
            runtime.refresh(ledger.request(RUNTIME_TOKEN_METHOD))
        base = _iam_base(ledger.settings)
        response = ledger.request(SIGN_JWT_METHOD)(
            f"{base}/v1/projects/-/serviceAccounts/{self.client_email}:signJwt",
            method="POST",
            body=json.dumps({"payload": json.dumps(dict(claims))}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {runtime.token}"},
        )
        if response.status != 200:
            raise DomainTokenError(
                DomainProblem.KEY_REJECTED,
                f"IAM signJwt answered {response.status}: the runtime may lack the Token Creator role",
            )
        signed: str = json.loads(response.data)["signedJwt"]
        return signed


def _iam_base(settings: Settings) -> str:
    return f"http://{settings.google_emulator_host}" if settings.google_emulator_host else IAM_CREDENTIALS


class DomainTokenError(Exception):
    """Google (or GroupSync's own state) refused a domain token; ``problem`` says what to fix."""

    def __init__(self, problem: DomainProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail

    @property
    def user_only(self) -> bool:
        return self.problem in _USER_PROBLEMS


def classify(error: str, description: str, mode: DomainMode) -> DomainProblem:
    """Google's answer to a JWT-bearer request, as the problem the admin has to fix."""
    text = description.lower()
    if error == "unauthorized_client":
        # The same answer for "no delegation entry" and "the Marketplace app is gone": the mode tells which.
        return (
            DomainProblem.APP_UNINSTALLED
            if mode is DomainMode.INSTALLATION
            else DomainProblem.DELEGATION_MISSING
        )
    if error == "invalid_scope":
        return DomainProblem.SCOPE_REFUSED
    if error == "invalid_grant":
        if "account not found" in text:
            return DomainProblem.SERVICE_ACCOUNT_GONE
        if "short-lived" in text or "timeframe" in text:
            return DomainProblem.CLOCK_WRONG
        if "signature" in text:
            return DomainProblem.KEY_REJECTED
        if "deleted" in text:
            return DomainProblem.USER_DELETED
        if "email or user id" in text or "not a valid email" in text:
            return DomainProblem.USER_NOT_IN_DOMAIN
    return DomainProblem.KEY_REJECTED


def _google_error(exc: google.auth.exceptions.RefreshError) -> tuple[str, str]:
    data = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(data, Mapping):
        return str(data.get("error", "error"))[:40], str(data.get("error_description", ""))[:300]
    return "error", ""


def request_token(
    session: DbSession,
    settings: Settings,
    signer: Signer,
    subject: str,
    *,
    holder: TokenHolder,
    context: CallContext,
    mode: DomainMode,
    sleep: Sleep = time.sleep,
) -> AccessToken:
    """The JWT-bearer token request for ``subject``: signed, sent through the transport, answer classified.

    The caller holds no uncommitted database writes (the ledger records on its own session);
    the outcome's lifecycle entry is committed here. Raises :class:`DomainTokenError` for
    Google's refusals and :class:`~app.google.tokens.TokenEndpointUnavailableError` when the
    endpoint keeps failing (429, 5xx, no answer: retried per :data:`~app.google.retry.TOKEN_POLICY`).
    """
    token_uri = GoogleEndpoints.for_settings(settings).token_uri
    started = token_flow(holder, context, EventTag.GOOGLE_REQUEST, "started", method=JWT_BEARER_METHOD)
    attempts = 0

    def attempt_grant(transport: GoogleTransport) -> tuple[str, datetime | None]:
        nonlocal attempts
        attempts += 1
        now = int(time.time())
        claims = {
            "iss": signer.client_email,
            "sub": subject,
            "scope": CONTACTS_SCOPE,
            "aud": GOOGLE_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        signing = SigningContext(transport, holder, context, settings, attempts)
        try:
            assertion = signer.sign(claims, signing)
            token, expiry, _ = google_oauth_client.jwt_grant(  # type: ignore[no-untyped-call]
                AuthRequest(transport, attempt_flow(started, attempts), raise_transient=True),
                token_uri,
                assertion,
                can_retry=False,
            )
        except AuthTransportError as exc:
            # A token request changes nothing when repeated, so every failure without an answer is retried.
            raise TransientError(exc.outcome, may_have_applied=False) from None
        return str(token), expiry

    try:
        with token_transport(session, holder, settings) as transport:
            token, expiry = retrying(TOKEN_POLICY, sleep)(attempt_grant, transport)
    except google.auth.exceptions.RefreshError as exc:
        error, description = _google_error(exc)
        with unit_of_work(session, expire_on_commit=False):
            record(session, token_flow(holder, context, EventTag.TOKEN_REFRESH_FAILED, error))
        if getattr(exc, "retryable", False):
            raise TokenEndpointUnavailableError(error) from None
        raise DomainTokenError(
            classify(error, description, mode), f"{error}: {description}".strip(": ")
        ) from None
    except TransientError as exc:
        with unit_of_work(session, expire_on_commit=False):
            record(session, token_flow(holder, context, EventTag.TOKEN_REFRESH_FAILED, exc.outcome))
        raise TokenEndpointUnavailableError(exc.outcome) from None
    # google-auth reports expiry as a naive UTC datetime.
    expires_at = expiry.replace(tzinfo=UTC) if expiry is not None else None
    with unit_of_work(session, expire_on_commit=False):
        record(
            session,
            token_flow(holder, context, EventTag.TOKEN_REFRESHED, "ok", detail={"grant": "jwt_bearer"}),
        )
    return AccessToken(token, expires_at)


def signer_for(domain: DomainConnection, vault: TokenVault, settings: Settings) -> Signer:
    """Who signs for ``domain``; raises :class:`DomainTokenError` when nothing can."""
    if domain.mode is DomainMode.CUSTOMER_KEY:
        try:
            key_json = vault.service_account_key(domain)
        except TokenUnreadableError as exc:
            report_unreadable(exc)
            raise DomainTokenError(DomainProblem.KEY_UNREADABLE, "the stored key does not open") from None
        if key_json is None:
            raise DomainTokenError(DomainProblem.NO_KEY, "no key uploaded")
        return KeySigner(_parsed(key_json, "the stored key"))
    if settings.domain_service_account_key_file is not None:
        try:
            text = settings.domain_service_account_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise DomainTokenError(
                DomainProblem.NOT_CONFIGURED, f"key file unreadable: {exc.strerror}"
            ) from None
        return KeySigner(_parsed(text, "GROUPSYNC_DOMAIN_SERVICE_ACCOUNT_KEY_FILE"))
    if settings.domain_service_account is None:
        raise DomainTokenError(DomainProblem.NOT_CONFIGURED, "the operator configured no service account")
    return IamSigner(settings.domain_service_account)


def _parsed(text: str, what: str) -> ServiceAccountKey:
    try:
        return ServiceAccountKey.parse(text)
    except KeyFileError as exc:
        raise DomainTokenError(DomainProblem.NOT_CONFIGURED, f"{what} cannot be used: {exc}") from None


def installation_identity(settings: Settings) -> tuple[str, str] | None:
    """(client e-mail, client id) of the installation's service account, when the operator set one."""
    if settings.domain_service_account_key_file is not None:
        try:
            key = ServiceAccountKey.parse(
                settings.domain_service_account_key_file.read_text(encoding="utf-8")
            )
        except (OSError, KeyFileError):
            return None
        return key.client_email, key.client_id
    return None


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class DomainCredentialsSource:
    """Credentials for a user whose syncs run through their Workspace domain's connection.

    The access token is sealed in the user's connection and reused until shortly before it
    expires; a new one is minted through :func:`request_token`. A refusal that concerns the
    whole domain marks the domain connection failing (every sync through it then stops at the
    gate); one that concerns this user marks only their connection.
    """

    def __init__(
        self,
        session: Session,
        vault: TokenVault,
        settings: Settings,
        *,
        purpose: Purpose = Purpose.CONTACT_SYNC,
        trigger: Trigger = Trigger.SYSTEM,
        actor: str = "system",
        sleep: Sleep = time.sleep,
    ) -> None:
        self._session = session
        self._vault = vault
        self._settings = settings
        self._context = CallContext(purpose, trigger, actor)
        self._sleep = sleep

    def credentials_for(self, connection: GoogleConnection) -> Credentials:
        # Google's half of the gate, and the domain's own state: no token is minted for a domain
        # that is failing, whose statement is not accepted or whose user was not told.
        ensure_usable(connection)
        assert connection.domain_connection_id is not None  # routed here only when set
        problem = domain_models.call_problem(
            self._session, connection.domain_connection_id, connection.user_id
        )
        if problem is not None:
            raise PeopleCallForbiddenError(problem)
        access = self._stored(connection)
        if access is None:
            access = self._mint(connection)
        with unit_of_work(self._session, expire_on_commit=False):
            connection.last_used_at = utcnow()
        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=access.token,
            expiry=_naive_utc(access.expires_at) if access.expires_at else None,
            scopes=[CONTACTS_SCOPE],
        )
        credentials.refresh_handler = self._refresh_handler(connection)
        return credentials

    def _stored(self, connection: GoogleConnection) -> AccessToken | None:
        try:
            access = self._vault.access_token(connection)
        except TokenUnreadableError as exc:
            report_unreadable(exc)
            return None
        if access is None or access.expires_at is None or access.expires_at - REUSE_MARGIN <= utcnow():
            return None
        return access

    def _mint(self, connection: GoogleConnection) -> AccessToken:
        domain = self._session.get(DomainConnection, connection.domain_connection_id)
        if domain is None:
            raise ConnectionUnusableError(connection.id, StatusReason.DOMAIN_FAILING)
        try:
            signer = signer_for(domain, self._vault, self._settings)
            access = request_token(
                self._session,
                self._settings,
                signer,
                connection.email,
                holder=connection,
                context=self._context,
                mode=domain.mode,
                sleep=self._sleep,
            )
        except DomainTokenError as exc:
            reason = StatusReason.LEFT_DOMAIN if exc.user_only else StatusReason.DOMAIN_FAILING
            with unit_of_work(self._session, expire_on_commit=False):
                if exc.user_only:
                    connection.mark_needs_reconnect(reason)
                else:
                    domain.fail(exc.problem, exc.detail)
            raise ConnectionUnusableError(connection.id, reason) from None
        with unit_of_work(self._session, expire_on_commit=False):
            self._vault.store_access_token(connection, access.token, access.expires_at)
        return access

    def _refresh_handler(self, connection: GoogleConnection) -> Any:
        def handler(request: object, scopes: Sequence[str] | None = None) -> tuple[str, datetime]:
            # Another worker may have minted one meanwhile: use it rather than ask Google again.
            access = self._stored(connection) or self._mint(connection)
            if access.expires_at is None:
                raise google.auth.exceptions.RefreshError(  # type: ignore[no-untyped-call]
                    "Google's token response carried no expiry"
                )
            return access.token, _naive_utc(access.expires_at)

        return handler


class RoutingCredentialsSource:
    """Each connection's own source: its domain's when it runs through one, else the user's grant."""

    def __init__(
        self,
        session: Session,
        vault: TokenVault,
        settings: Settings,
        *,
        purpose: Purpose = Purpose.CONTACT_SYNC,
        trigger: Trigger = Trigger.SYSTEM,
        actor: str = "system",
        sleep: Sleep = time.sleep,
    ) -> None:
        kwargs: dict[str, Any] = {"purpose": purpose, "trigger": trigger, "actor": actor, "sleep": sleep}
        self._user = UserOAuthCredentialsSource(session, vault, settings, **kwargs)
        self._domain = DomainCredentialsSource(session, vault, settings, **kwargs)

    def credentials_for(self, connection: GoogleConnection) -> Credentials:
        if connection.domain_connection_id is not None:
            return self._domain.credentials_for(connection)
        return self._user.credentials_for(connection)
