"""What the emulator's OAuth 2.0 side remembers: test identities, clients, consents, codes and tokens.

Kept apart from the views in ``oauth`` so ``state`` can build an :class:`OAuthState` without
importing Flask views (which import ``state`` back). Tokens, codes and client secrets are kept
only as SHA-256 digests, so neither memory dumps nor the optional state file hold a usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from app.google.endpoints import CONTACTS_SCOPE
from groupsync_emulator.errors import OAuthError
from groupsync_emulator.keys import b64url

OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.readonly"

# Google accepts the short names but answers with the full URLs; so does the emulator.
SCOPE_ALIASES = {"email": EMAIL, "profile": PROFILE}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for "extract, translate when shown")
    """Marks a message for extraction; the consent page translates it when it draws it."""
    return message


SCOPE_DESCRIPTIONS = {
    OPENID: N_("Link you to the personal information you have made public on Google"),
    EMAIL: N_("Read the primary e-mail address of your Google Account"),
    PROFILE: N_("Read your name and profile picture"),
    CONTACTS_SCOPE: N_("Read, change, download and permanently delete your contacts"),
    CONTACTS_READONLY: N_("Read and download your contacts"),
}
SIGN_IN_SCOPES = frozenset({OPENID, EMAIL, PROFILE})

CODE_LIFETIME = 60
CONSENT_PAGE_LIFETIME = 600
REFRESH_TOKENS_PER_CLIENT = 100
"""Google's documented cap of live refresh tokens per account and client; older ones die first."""

PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class Clock:
    """Wall-clock seconds plus an offset that tests advance instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds


@dataclass(frozen=True)
class Identity:
    sub: str
    email: str
    name: str
    given_name: str
    family_name: str
    locale: str

    def claims(self, scopes: Iterable[str]) -> dict[str, Any]:
        """The userinfo/ID-token claims the granted scopes allow, and nothing more."""
        granted = set(scopes)
        claims: dict[str, Any] = {"sub": self.sub}
        if EMAIL in granted:
            claims.update(email=self.email, email_verified=True)
        if PROFILE in granted:
            claims.update(
                name=self.name,
                given_name=self.given_name,
                family_name=self.family_name,
                locale=self.locale,
            )
        return claims


IDENTITIES = (
    Identity("110000000000000000001", "ada.lovelace@example.com", "Ada Lovelace", "Ada", "Lovelace", "en"),
    Identity(
        "110000000000000000002", "olena.kovalenko@example.com", "Олена Коваленко", "Олена", "Коваленко", "uk"
    ),
    Identity("110000000000000000003", "grace.hopper@example.org", "Grace Hopper", "Grace", "Hopper", "en"),
    Identity("110000000000000000004", "kwame.mensah@example.net", "Kwame Mensah", "Kwame", "Mensah", "en-GB"),
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Client:
    client_id: str
    secret_digest: str
    redirect_uris: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class AuthRequest:
    """A validated authorization request, waiting on the consent page under a one-time ticket."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    offline: bool
    prompt_consent: bool
    include_granted_scopes: bool
    login_hint: str | None
    expires_at: float = 0.0


@dataclass
class AuthCode:
    client_id: str
    sub: str
    redirect_uri: str
    scopes: frozenset[str]
    nonce: str | None
    code_challenge: str | None
    issue_refresh: bool
    expires_at: float
    used: bool = False
    issued: list[str] = field(default_factory=list)
    """Digests of the tokens this code produced, revoked if the code is replayed."""


@dataclass
class IssuedToken:
    sub: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float | None
    refresh_digest: str | None = None
    """For an access token, the refresh token it came from (revoking that kills this too)."""
    revoked: bool = False

    def live(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Grant:
    """Who a valid access token speaks for; the People API keys each account by ``sub``."""

    sub: str
    client_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Tokens:
    """The outcome of a token request, with the plaintext tokens only on their way to the client."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    access_token: str
    expires_in: int
    refresh_token: str | None
    nonce: str | None


_REVOKED = "Token has been expired or revoked."


class OAuthState:
    def __init__(self, clock: Clock, token_lifetime: int) -> None:
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.identities: dict[str, Identity] = {i.sub: i for i in IDENTITIES}
        self.clients: dict[str, Client] = {}
        self.pending: dict[str, AuthRequest] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, IssuedToken] = {}
        self.refresh_tokens: dict[str, IssuedToken] = {}
        self.grants: dict[tuple[str, str], frozenset[str]] = {}
        """Scopes each user has granted each client so far (what include_granted_scopes adds)."""

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str], name: str
    ) -> Client:
        client = Client(client_id, digest(client_secret), tuple(redirect_uris), name)
        self.clients[client_id] = client
        return client

    def find_identity(self, key: str) -> Identity | None:
        """An identity by ``sub`` or (case-insensitive) e-mail address."""
        if key in self.identities:
            return self.identities[key]
        lowered = key.lower()
        return next((i for i in self.identities.values() if i.email == lowered), None)

    def authenticate_client(self, client_id: str, client_secret: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if not hmac.compare_digest(client.secret_digest, digest(client_secret)):
            raise OAuthError("invalid_client", "Unauthorized", 401)
        return client

    def open_consent(self, auth: AuthRequest) -> str:
        now = self.clock.now()
        for ticket in [t for t, pending in self.pending.items() if pending.expires_at <= now]:
            del self.pending[ticket]
        ticket = secrets.token_urlsafe(24)
        self.pending[ticket] = replace(auth, expires_at=now + CONSENT_PAGE_LIFETIME)
        return ticket

    def take_consent(self, ticket: str) -> AuthRequest | None:
        auth = self.pending.pop(ticket, None)
        if auth is None or auth.expires_at <= self.clock.now():
            return None
        return auth

    def issue_code(self, auth: AuthRequest, sub: str, granted: frozenset[str]) -> tuple[str, frozenset[str]]:
        """Record the user's consent and return a fresh code with the scopes it carries."""
        key = (sub, auth.client_id)
        previous = self.grants.get(key)
        scopes = granted | previous if auth.include_granted_scopes and previous else granted
        self.grants[key] = granted | (previous or frozenset())
        code = "4/0" + secrets.token_urlsafe(48)
        self.codes[digest(code)] = AuthCode(
            client_id=auth.client_id,
            sub=sub,
            redirect_uri=auth.redirect_uri,
            scopes=scopes,
            nonce=auth.nonce,
            code_challenge=auth.code_challenge,
            issue_refresh=auth.offline and (previous is None or auth.prompt_consent),
            expires_at=self.clock.now() + CODE_LIFETIME,
        )
        return code, scopes

    def exchange_code(
        self, client: Client, code: str, redirect_uri: str | None, verifier: str | None
    ) -> Tokens:
        record = self.codes.get(digest(code))
        if record is None or record.client_id != client.client_id:
            raise OAuthError("invalid_grant", "Bad Request")
        if record.used:
            # RFC 6749 §4.1.2: a replayed code may be stolen, so what it produced dies with it.
            for token_digest in record.issued:
                self._revoke_digest(token_digest)
            raise OAuthError("invalid_grant", "Bad Request")
        record.used = True
        if record.expires_at <= self.clock.now():
            raise OAuthError("invalid_grant", "Bad Request")
        if redirect_uri != record.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        if record.code_challenge is None:
            if verifier is not None:
                raise OAuthError("invalid_grant", "code_verifier sent, but the code was issued without PKCE.")
        elif verifier is None:
            raise OAuthError("invalid_grant", "Missing code verifier.")
        elif not _PKCE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            b64url(hashlib.sha256(verifier.encode("ascii")).digest()), record.code_challenge
        ):
            raise OAuthError("invalid_grant", "Invalid code verifier.")
        refresh = (
            self._issue_refresh(record.sub, client.client_id, record.scopes) if record.issue_refresh else None
        )
        access = self._issue_access(record.sub, client.client_id, record.scopes, refresh)
        record.issued.extend(digest(t) for t in (access, refresh) if t is not None)
        return Tokens(
            record.sub, client.client_id, record.scopes, access, self.token_lifetime, refresh, record.nonce
        )

    def refresh(self, client: Client, refresh_token: str, scope: str | None) -> Tokens:
        key = digest(refresh_token)
        record = self.refresh_tokens.get(key)
        if record is None or record.client_id != client.client_id or not record.live(self.clock.now()):
            raise OAuthError("invalid_grant", _REVOKED)
        scopes = record.scopes
        if scope is not None:
            requested, unknown = canonical_scopes(scope)
            if unknown or not requested <= record.scopes:
                raise OAuthError("invalid_scope", "The requested scope exceeds the scope granted.")
            scopes = requested
        access = self._issue_access(record.sub, client.client_id, scopes, refresh_token)
        return Tokens(record.sub, client.client_id, scopes, access, self.token_lifetime, None, None)

    def _issue_refresh(self, sub: str, client_id: str, scopes: frozenset[str]) -> str:
        token = "1//0" + secrets.token_urlsafe(64)
        now = self.clock.now()
        self.refresh_tokens[digest(token)] = IssuedToken(sub, client_id, scopes, now, None)
        live = [
            (record.issued_at, key)
            for key, record in self.refresh_tokens.items()
            if record.sub == sub and record.client_id == client_id and record.live(now)
        ]
        for _, key in sorted(live)[:-REFRESH_TOKENS_PER_CLIENT]:
            self._revoke_digest(key)
        return token

    def _issue_access(self, sub: str, client_id: str, scopes: frozenset[str], refresh: str | None) -> str:
        token = "ya29.emu-" + secrets.token_urlsafe(64)
        now = self.clock.now()
        self.access_tokens[digest(token)] = IssuedToken(
            sub,
            client_id,
            scopes,
            now,
            now + self.token_lifetime,
            refresh_digest=digest(refresh) if refresh is not None else None,
        )
        return token

    def issue_access_token(self, sub: str, client_id: str, scopes: frozenset[str]) -> str:
        """An access token that no refresh token stands behind (the JWT-bearer grant's)."""
        return self._issue_access(sub, client_id, scopes, None)

    def _revoke_digest(self, key: str) -> None:
        record = self.refresh_tokens.get(key) or self.access_tokens.get(key)
        if record is not None:
            record.revoked = True
        for access in self.access_tokens.values():
            if access.refresh_digest == key:
                access.revoked = True

    def revoke(self, token: str) -> IssuedToken:
        """Google's /revoke: either kind of token ends the user's whole grant to that client."""
        key = digest(token)
        record = self.access_tokens.get(key) or self.refresh_tokens.get(key)
        if record is None or not record.live(self.clock.now()):
            raise OAuthError("invalid_token", "Token expired or revoked")
        self.revoke_grant(record.sub, record.client_id)
        return record

    def revoke_grant(self, sub: str, client_id: str) -> None:
        """As if the user removed the app under "Third-party connections" in their Google Account."""
        self.grants.pop((sub, client_id), None)
        for record in (*self.refresh_tokens.values(), *self.access_tokens.values()):
            if record.sub == sub and record.client_id == client_id:
                record.revoked = True

    def expire_refresh_tokens(self, sub: str, client_id: str | None) -> int:
        """Testing-status apps lose refresh tokens after 7 days; access tokens run out on their own."""
        now = self.clock.now()
        expired = 0
        for record in self.refresh_tokens.values():
            if record.sub == sub and client_id in (None, record.client_id) and record.live(now):
                record.expires_at = now
                expired += 1
        return expired

    def access_grant(self, token: str) -> tuple[IssuedToken | None, bool]:
        """The access token's record and whether it has merely expired (as opposed to being unknown)."""
        record = self.access_tokens.get(digest(token))
        if record is None or record.revoked:
            return None, False
        if not record.live(self.clock.now()):
            return None, True
        return record, False


def canonical_scopes(text: str) -> tuple[frozenset[str], list[str]]:
    """Split a ``scope`` parameter into known full-URL scopes and the names the emulator does not know."""
    known: set[str] = set()
    unknown: list[str] = []
    for name in text.split():
        full = SCOPE_ALIASES.get(name, name)
        if full in SCOPE_DESCRIPTIONS:
            known.add(full)
        else:
            unknown.append(name)
    return frozenset(known), unknown


def scope_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))
