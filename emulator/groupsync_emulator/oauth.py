"""OAuth 2.0 and OpenID Connect on Google's paths: consent, codes, tokens, revocation, userinfo, keys.

Where Google's documented behaviour leaves room, the emulator takes the stricter reading
(docs/emulator.md lists each case), so a client that works here works against Google.
What is remembered lives in ``oauth_state``; this module holds the HTTP side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from flask import Blueprint, Response, g, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from app.google.endpoints import CONTACTS_SCOPE
from groupsync_emulator.errors import GoogleApiError, OAuthError
from groupsync_emulator.keys import b64url
from groupsync_emulator.oauth_state import (
    CONTACTS_READONLY,
    N_,
    OPENID,
    PKCE_CHALLENGE,
    SCOPE_DESCRIPTIONS,
    SIGN_IN_SCOPES,
    AuthRequest,
    Grant,
    Tokens,
    canonical_scopes,
    scope_string,
)
from groupsync_emulator.state import ConsentAnswer, EmulatorState, current_state
from groupsync_emulator.workspace import JWT_BEARER

bp = Blueprint("emulator_oauth", __name__, template_folder="templates")

_PAGE_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"

ISSUER = "https://accounts.google.com"
"""Google's own issuer, whatever address the emulator listens on: the ID tokens are Google-shaped
and only the signing key (served at this emulator's /oauth2/v1/certs) tells them apart."""


def note_caller(sub: str | None, client_id: str | None, method: str) -> None:
    """What the request log records for this request."""
    g.caller_sub = sub
    g.caller_client_id = client_id
    g.api_method = method


class AuthPageError(Exception):
    """An authorization request Google answers with its own error page, never a redirect.

    The page is read by a person, so ``description`` is a message id (marked with ``N_``) shown in
    the page's language with ``params`` filled in; the error code stays as Google writes it.
    """

    def __init__(self, code: int, error: str, description: str, **params: str) -> None:
        super().__init__(description % params if params else description)
        self.code = code
        self.error = error
        self.description = description
        self.params = params


@bp.errorhandler(AuthPageError)
def auth_page_error(error: AuthPageError) -> tuple[str, int, dict[str, str]]:
    described = gettext(error.description, **error.params)
    page = render_template("emulator/error.html", error=error.error, description=described)
    return page, error.code, {"Content-Security-Policy": _PAGE_CSP}


def parse_authorization_request(state: EmulatorState, args: MultiDict[str, str]) -> AuthRequest:
    """Validate client and redirect URI first: until both are known good, nothing may redirect."""
    client_id = args.get("client_id", "")
    client = state.oauth.clients.get(client_id)
    if client is None:
        raise AuthPageError(401, "invalid_client", N_("The OAuth client was not found."))
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri:
        raise AuthPageError(
            400, "redirect_uri_mismatch", N_("The request names no redirect URI (missing redirect_uri).")
        )
    if redirect_uri not in client.redirect_uris:
        raise AuthPageError(
            400,
            "redirect_uri_mismatch",
            N_(
                "The redirect URI in the request, %(uri)s, does not match the ones registered for the "
                "OAuth client."
            ),
            uri=redirect_uri,
        )
    response_type = args.get("response_type")
    if response_type != "code":
        raise AuthPageError(
            400,
            "unsupported_response_type",
            N_("response_type must be 'code' (got '%(value)s')."),
            value=response_type or "",
        )
    scopes, unknown = canonical_scopes(args.get("scope", ""))
    if unknown:
        raise AuthPageError(
            400,
            "invalid_scope",
            N_("Some requested scopes were invalid: %(scopes)s"),
            scopes=", ".join(unknown),
        )
    if not scopes:
        raise AuthPageError(400, "invalid_request", N_("Missing required parameter: %(name)s"), name="scope")
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if challenge is None and method is not None:
        raise AuthPageError(400, "invalid_request", N_("code_challenge_method given without code_challenge."))
    if challenge is not None:
        if method != "S256":
            raise AuthPageError(
                400,
                "invalid_request",
                N_("code_challenge_method must be S256 (got '%(value)s'; none given means plain)."),
                value=method or "",
            )
        if not PKCE_CHALLENGE.fullmatch(challenge):
            raise AuthPageError(
                400, "invalid_request", N_("code_challenge is not a base64url SHA-256 digest.")
            )
    access_type = args.get("access_type", "online")
    if access_type not in {"online", "offline"}:
        raise AuthPageError(400, "invalid_request", N_("Invalid access_type: %(value)s"), value=access_type)
    prompts = set(args.get("prompt", "").split())
    if not prompts <= {"consent", "select_account"}:
        raise AuthPageError(
            400,
            "invalid_request",
            N_("prompt may hold consent and select_account; the emulator does not support %(values)s."),
            values=", ".join(sorted(prompts - {"consent", "select_account"})),
        )
    include = args.get("include_granted_scopes", "false")
    if include not in {"true", "false"}:
        raise AuthPageError(
            400,
            "invalid_request",
            N_("include_granted_scopes must be true or false: %(value)s"),
            value=include,
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
                400, "invalid_request", N_("This consent page has expired; start signing in again.")
            )
        g.caller_client_id = auth.client_id
        identity = state.oauth.identities.get(request.form.get("identity", ""))
        if identity is None:
            raise AuthPageError(400, "invalid_request", N_("Choose one of the listed accounts."))
        g.caller_sub = identity.sub
        action = request.form.get("action")
        if action not in {"allow", "deny"}:
            raise AuthPageError(400, "invalid_request", N_("Answer with Allow or Deny."))
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
            "iss": ISSUER,
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
    if grant_type == JWT_BEARER:
        return _jwt_bearer(state)
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


def _jwt_bearer(state: EmulatorState) -> Response:
    """A service account's signed assertion instead of client credentials (see ``workspace``)."""
    assertion = request.form.get("assertion")
    if not assertion:
        raise OAuthError("invalid_request", "Missing required parameter: assertion")
    with state.lock:
        tokens = state.workspace.jwt_bearer(assertion, state.now())
        g.caller_sub = tokens.sub
        g.caller_client_id = tokens.client_id
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
    base = request.host_url.rstrip("/")
    return jsonify(
        {
            "issuer": ISSUER,
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
            "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
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
