"""OAuth 2.0 and OpenID Connect on Google's paths: consent, codes, tokens, revocation, userinfo, keys.

Where Google's documented behaviour leaves room, the emulator takes the stricter reading
(docs/emulator.md lists each case), so a client that works here works against Google.
Tokens, codes and client secrets are kept only as SHA-256 digests, so neither memory dumps
nor the optional state file hold a usable credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.datastructures import MultiDict

from app.emulator.errors import GoogleApiError, OAuthError
from app.emulator.keys import b64url
from app.emulator.state import Clock, ConsentAnswer, EmulatorState, current_state
from app.google.endpoints import CONTACTS_SCOPE

OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.readonly"

# Google accepts the short names but answers with the full URLs; so does the emulator.
SCOPE_ALIASES = {"email": EMAIL, "profile": PROFILE}
SCOPE_DESCRIPTIONS = {
    OPENID: "Link you to the personal information you have made public on Google",
    EMAIL: "Read the primary e-mail address of your Google Account",
    PROFILE: "Read your name and profile picture",
    CONTACTS_SCOPE: "Read, change, download and permanently delete your contacts",
    CONTACTS_READONLY: "Read and download your contacts",
}
SIGN_IN_SCOPES = frozenset({OPENID, EMAIL, PROFILE})

CODE_LIFETIME = 60
CONSENT_PAGE_LIFETIME = 600
REFRESH_TOKENS_PER_CLIENT = 100
"""Google's documented cap of live refresh tokens per account and client; older ones die first."""

_PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


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


# --- views ------------------------------------------------------------------------------------

bp = Blueprint("emulator_oauth", __name__, template_folder="templates")

_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def note_caller(sub: str | None, client_id: str | None, method: str) -> None:
    """What the request log records for this request."""
    g.caller_sub = sub
    g.caller_client_id = client_id
    g.api_method = method


class AuthPageError(Exception):
    """An authorization request Google answers with its own error page, never a redirect."""

    def __init__(self, code: int, error: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description


@bp.errorhandler(AuthPageError)
def auth_page_error(error: AuthPageError) -> tuple[str, int, dict[str, str]]:
    page = render_template("emulator/error.html", error=error.error, description=error.description)
    return page, error.code, {"Content-Security-Policy": _PAGE_CSP}


def _issuer(state: EmulatorState) -> str:
    return state.settings.issuer or request.host_url.rstrip("/")


def parse_authorization_request(state: EmulatorState, args: MultiDict[str, str]) -> AuthRequest:
    """Validate client and redirect URI first: until both are known good, nothing may redirect."""
    client_id = args.get("client_id", "")
    client = state.oauth.clients.get(client_id)
    if client is None:
        raise AuthPageError(401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = args.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        raise AuthPageError(
            400,
            "redirect_uri_mismatch",
            f"The redirect URI in the request, {redirect_uri or '(none)'}, does not match the ones "
            "registered for the OAuth client.",
        )
    response_type = args.get("response_type")
    if response_type != "code":
        raise AuthPageError(
            400,
            "unsupported_response_type",
            f"response_type must be 'code' (got {response_type or 'nothing'}).",
        )
    scopes, unknown = canonical_scopes(args.get("scope", ""))
    if unknown:
        raise AuthPageError(400, "invalid_scope", f"Some requested scopes were invalid: {', '.join(unknown)}")
    if not scopes:
        raise AuthPageError(400, "invalid_request", "Missing required parameter: scope")
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if challenge is None and method is not None:
        raise AuthPageError(400, "invalid_request", "code_challenge_method given without code_challenge.")
    if challenge is not None:
        if method != "S256":
            raise AuthPageError(
                400,
                "invalid_request",
                f"code_challenge_method must be S256 (got {method or 'nothing, which means plain'}).",
            )
        if not _PKCE_CHALLENGE.fullmatch(challenge):
            raise AuthPageError(400, "invalid_request", "code_challenge is not a base64url SHA-256 digest.")
    access_type = args.get("access_type", "online")
    if access_type not in {"online", "offline"}:
        raise AuthPageError(400, "invalid_request", f"Invalid access_type: {access_type}")
    prompts = set(args.get("prompt", "").split())
    if not prompts <= {"consent", "select_account"}:
        raise AuthPageError(
            400,
            "invalid_request",
            f"prompt may hold consent and select_account; the emulator does not support "
            f"{', '.join(sorted(prompts - {'consent', 'select_account'}))}.",
        )
    include = args.get("include_granted_scopes", "false")
    if include not in {"true", "false"}:
        raise AuthPageError(
            400, "invalid_request", f"include_granted_scopes must be true or false: {include}"
        )
    return AuthRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=tuple(sorted(scopes)),
        state=args.get("state"),
        nonce=args.get("nonce"),
        code_challenge=challenge,
        offline=access_type == "offline",
        prompt_consent="consent" in prompts,
        include_granted_scopes=include == "true",
        login_hint=args.get("login_hint"),
    )


def _redirect_with(redirect_uri: str, params: dict[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{query}"})


def _answer(state: EmulatorState, auth: AuthRequest, sub: str, ticked: Iterable[str], deny: bool) -> Response:
    if deny:
        return _redirect_with(auth.redirect_uri, {"error": "access_denied", "state": auth.state})
    requested = frozenset(auth.scopes)
    granted = (frozenset(ticked) & requested) | (requested & {OPENID})
    code, scopes = state.oauth.issue_code(auth, sub, granted)
    return _redirect_with(
        auth.redirect_uri,
        {
            "state": auth.state,
            "code": code,
            "scope": scope_string(scopes),
            "authuser": "0",
            "prompt": "consent",
        },
    )


@bp.get("/o/oauth2/v2/auth")
def authorize() -> Response | tuple[str, dict[str, str]]:
    state = current_state()
    note_caller(None, request.args.get("client_id"), "oauth2.authorize")
    with state.lock:
        auth = parse_authorization_request(state, request.args)
        preset, state.next_consent = state.next_consent, None
        if preset is not None:
            g.caller_sub = preset.sub
            ticked = preset.scopes if preset.scopes is not None else auth.scopes
            return _answer(state, auth, preset.sub, ticked, preset.deny)
        ticket = state.oauth.open_consent(auth)
        client = state.oauth.clients[auth.client_id]
        hint = state.oauth.find_identity(auth.login_hint) if auth.login_hint else None
        identities = list(state.oauth.identities.values())
    page = render_template(
        "emulator/consent.html",
        ticket=ticket,
        client=client,
        identities=identities,
        selected=(hint or identities[0]).sub,
        scopes=[(scope, SCOPE_DESCRIPTIONS[scope]) for scope in auth.scopes],
        openid=OPENID,
    )
    return page, {"Content-Security-Policy": _PAGE_CSP}


@bp.post("/o/oauth2/v2/auth")
def consent() -> Response:
    state = current_state()
    note_caller(None, None, "oauth2.consent")
    with state.lock:
        auth = state.oauth.take_consent(request.form.get("ticket", ""))
        if auth is None:
            raise AuthPageError(
                400, "invalid_request", "This consent page has expired; start signing in again."
            )
        g.caller_client_id = auth.client_id
        identity = state.oauth.identities.get(request.form.get("identity", ""))
        if identity is None:
            raise AuthPageError(400, "invalid_request", "Choose one of the listed accounts.")
        g.caller_sub = identity.sub
        action = request.form.get("action")
        if action not in {"allow", "deny"}:
            raise AuthPageError(400, "invalid_request", "Answer with Allow or Deny.")
        return _answer(state, auth, identity.sub, request.form.getlist("scope"), action == "deny")


def _client_credentials() -> tuple[str, str]:
    """Client id and secret from HTTP Basic or the form, never both (RFC 6749 §2.3)."""
    header = request.headers.get("Authorization", "")
    form_secret = request.form.get("client_secret")
    if header:
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, colon, password = decoded.partition(":")
        if scheme.lower() != "basic" or not colon:
            raise OAuthError("invalid_client", "Malformed HTTP Basic client authentication.", 401)
        if form_secret is not None:
            raise OAuthError("invalid_request", "Client authenticated twice (HTTP Basic and form).")
        basic_id = unquote(user)
        form_id = request.form.get("client_id")
        if form_id is not None and form_id != basic_id:
            raise OAuthError("invalid_client", "client_id differs from the HTTP Basic user.", 401)
        return basic_id, unquote(password)
    client_id = request.form.get("client_id")
    if not client_id:
        raise OAuthError("invalid_request", "Missing required parameter: client_id")
    if form_secret is None:
        raise OAuthError("invalid_client", "Missing client_secret.", 401)
    return client_id, form_secret


def _token_response(state: EmulatorState, tokens: Tokens) -> Response:
    body: dict[str, Any] = {
        "access_token": tokens.access_token,
        "expires_in": tokens.expires_in,
        "scope": scope_string(tokens.scopes),
        "token_type": "Bearer",
    }
    if tokens.refresh_token is not None:
        body["refresh_token"] = tokens.refresh_token
    if OPENID in tokens.scopes:
        identity = state.oauth.identities[tokens.sub]
        now = int(state.now())
        claims = {
            "iss": _issuer(state),
            "azp": tokens.client_id,
            "aud": tokens.client_id,
            **identity.claims(tokens.scopes),
            "at_hash": b64url(hashlib.sha256(tokens.access_token.encode("ascii")).digest()[:16]),
            "iat": now,
            "exp": now + 3600,
        }
        if tokens.nonce is not None:
            claims["nonce"] = tokens.nonce
        body["id_token"] = state.signing_key.sign_jwt(claims)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/token")
def token() -> Response:
    state = current_state()
    note_caller(None, None, "oauth2.token")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The token request must be application/x-www-form-urlencoded.")
    grant_type = request.form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "Missing required parameter: grant_type")
    if grant_type not in {"authorization_code", "refresh_token"}:
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    client_id, secret = _client_credentials()
    g.caller_client_id = client_id
    with state.lock:
        client = state.oauth.authenticate_client(client_id, secret)
        if grant_type == "authorization_code":
            code = request.form.get("code")
            if not code:
                raise OAuthError("invalid_request", "Missing required parameter: code")
            tokens = state.oauth.exchange_code(
                client, code, request.form.get("redirect_uri"), request.form.get("code_verifier")
            )
        else:
            refresh_token = request.form.get("refresh_token")
            if not refresh_token:
                raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
            tokens = state.oauth.refresh(client, refresh_token, request.form.get("scope"))
        g.caller_sub = tokens.sub
        return _token_response(state, tokens)


@bp.post("/revoke")
def revoke() -> Response:
    state = current_state()
    note_caller(None, None, "oauth2.revoke")
    token = request.form.get("token") or request.args.get("token")
    if not token:
        raise OAuthError("invalid_request", "Missing required parameter: token")
    with state.lock:
        record = state.oauth.revoke(token)
    note_caller(record.sub, record.client_id, "oauth2.revoke")
    return Response(status=200)


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@bp.route("/v1/userinfo", methods=["GET", "POST"])
@bp.route("/oauth2/v3/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    state = current_state()
    note_caller(None, None, "oauth2.userinfo")
    token = _bearer_token()
    with state.lock:
        record, _ = state.oauth.access_grant(token) if token else (None, False)
        if record is None:
            raise OAuthError("invalid_request", "Invalid Credentials", 401)
        note_caller(record.sub, record.client_id, "oauth2.userinfo")
        if not record.scopes & SIGN_IN_SCOPES:
            raise OAuthError("insufficient_scope", "The token grants none of openid, email, profile.", 403)
        return jsonify(state.oauth.identities[record.sub].claims(record.scopes))


@bp.get("/oauth2/v1/certs")
def certs_x509() -> Response:
    note_caller(None, None, "oauth2.certs")
    return jsonify(current_state().signing_key.x509_certs())


@bp.get("/oauth2/v3/certs")
def certs_jwk() -> Response:
    note_caller(None, None, "oauth2.certs")
    return jsonify(current_state().signing_key.jwk_set())


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    note_caller(None, None, "oauth2.discovery")
    state = current_state()
    base = request.host_url.rstrip("/")
    return jsonify(
        {
            "issuer": _issuer(state),
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "family_name",
                "given_name",
                "iat",
                "iss",
                "locale",
                "name",
                "sub",
            ],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }
    )


# --- the People API's side ---------------------------------------------------------------------

_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential."
)


def require_grant(write: bool) -> Grant:
    """The caller of a People API method, or the 401/403 Google answers instead.

    ``write`` methods need the contacts scope; reads accept contacts or contacts.readonly.
    """
    state = current_state()
    token = _bearer_token()
    challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}
    if token is None:
        raise GoogleApiError(
            401,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
            reason="CREDENTIALS_MISSING",
            metadata={"service": "people.googleapis.com"},
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    with state.lock:
        record, expired = state.oauth.access_grant(token)
    if record is None:
        raise GoogleApiError(
            401,
            "UNAUTHENTICATED",
            _UNAUTHENTICATED,
            reason="ACCESS_TOKEN_EXPIRED" if expired else None,
            metadata={"service": "people.googleapis.com"},
            headers=challenge,
        )
    g.caller_sub = record.sub
    g.caller_client_id = record.client_id
    allowed = {CONTACTS_SCOPE} if write else {CONTACTS_SCOPE, CONTACTS_READONLY}
    if not record.scopes & allowed:
        raise GoogleApiError(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            metadata={"service": "people.googleapis.com"},
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                f'error="insufficient_scope", scope="{" ".join(sorted(allowed))}"'
            },
        )
    return Grant(record.sub, record.client_id, record.scopes)


def preset_consent(
    state: EmulatorState, identity: str, scopes: Iterable[str] | None, deny: bool
) -> ConsentAnswer:
    """Set the answer the next authorization request gets without showing the page."""
    found = state.oauth.find_identity(identity)
    if found is None:
        raise GoogleApiError(400, "INVALID_ARGUMENT", f"identity: no test identity is '{identity}'")
    canonical: frozenset[str] | None = None
    if scopes is not None:
        canonical, unknown = canonical_scopes(" ".join(scopes))
        if unknown:
            raise GoogleApiError(400, "INVALID_ARGUMENT", f"scopes: unknown scope(s) {', '.join(unknown)}")
    answer = ConsentAnswer(found.sub, canonical, deny)
    with state.lock:
        state.next_consent = answer
    return answer
