"""Google Workspace as the emulator models it: domains and their users, the Admin console's
domain-wide delegation list, Marketplace installs, and Cloud service accounts with their keys.

What this enables is the OAuth 2.0 JWT-bearer grant (RFC 7523) at ``/token``: a service
account signs a JWT naming the user it acts for (``sub``) and the scopes it wants, and Google
answers with an access token for that user, if the domain's admin allowed that service
account those scopes. :meth:`WorkspaceState.jwt_bearer` checks the assertion the way Google
does, in Google's words (docs/emulator.md lists each answer and where the wording comes from).

Only public keys are kept: a key file's private key leaves the emulator once, in the hook's
answer, as the Cloud console's download does. Keys the emulator manages itself (what the IAM
Credentials ``signJwt`` API signs with) never leave it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from groupsync_emulator.errors import OAuthError
from groupsync_emulator.keys import b64url
from groupsync_emulator.oauth_state import (
    SCOPE_DESCRIPTIONS,
    Identity,
    OAuthState,
    Tokens,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
"""The only audience an assertion may name, whatever address the emulator listens on: google-auth
always writes Google's token URI there, even when it posts the assertion elsewhere (*stricter*:
Google also takes its older token URIs)."""
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM = "https://www.googleapis.com/auth/iam"
SERVICE_ACCOUNT_SCOPES = frozenset({CLOUD_PLATFORM, IAM})
"""Scopes a service account may ask for itself (no ``sub``): enough to call the IAM Credentials API."""

MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300
"""Seconds of clock difference tolerated on ``iat``; *stricter* than Google, which reportedly allows more."""

# Google's answers, as client libraries and their users report them (docs/emulator.md).
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, "
    "or client not authorized for any of the scopes requested."
)
ACCOUNT_NOT_FOUND = "Invalid grant: account not found"
BAD_SIGNATURE = "Invalid JWT Signature."
BAD_TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
BAD_AUDIENCE = "Invalid JWT: Failed audience check."
BAD_SUBJECT = "Invalid email or User ID"
DELETED_SUBJECT = "The account has been deleted"
BAD_SCOPE = "Invalid OAuth scope or ID token audience provided."

_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class WorkspaceError(ValueError):
    """A hook asked for something impossible; the message names the field."""


@dataclass
class ServiceKey:
    key_id: str
    public_pem: bytes
    user_managed: bool
    """A key file someone downloaded; ``False`` for the key Google keeps to serve ``signJwt``."""
    disabled: bool = False


@dataclass
class ServiceAccount:
    email: str
    unique_id: str
    """The numeric id the Admin console calls "Client ID" for domain-wide delegation."""
    project_id: str
    display_name: str
    keys: dict[str, ServiceKey] = field(default_factory=dict)
    disabled: bool = False
    token_creators: set[str] = field(default_factory=set)
    """Unique ids of service accounts that may call ``signJwt`` as this one (Token Creator role)."""


@dataclass
class DomainUser:
    identity: Identity
    suspended: bool = False
    deleted: bool = False


@dataclass
class Domain:
    name: str
    users: dict[str, DomainUser] = field(default_factory=dict)
    """By ``sub``."""
    delegations: dict[str, frozenset[str]] = field(default_factory=dict)
    """Admin console → Security → API controls → Domain-wide delegation: client id → scopes."""
    marketplace: dict[str, frozenset[str]] = field(default_factory=dict)
    """Marketplace apps installed for the whole domain: Cloud project id → scopes the admin accepted."""

    def authorized_scopes(self, account: ServiceAccount) -> frozenset[str]:
        return self.delegations.get(account.unique_id, frozenset()) | self.marketplace.get(
            account.project_id, frozenset()
        )


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _key_id(public_pem: bytes) -> str:
    return hashlib.sha256(public_pem).hexdigest()[:40]


class WorkspaceState:
    def __init__(self, oauth: OAuthState) -> None:
        self.oauth = oauth
        self.domains: dict[str, Domain] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        """By e-mail address; a deleted service account is gone from here."""
        self._system_keys: dict[str, bytes] = {}
        """Private PEMs of the Google-managed keys ``signJwt`` signs with, by key id."""
        self._next_number = 0

    def _number(self, prefix: str) -> str:
        self._next_number += 1
        return f"{prefix}{self._next_number:019d}"

    # --- domains and users ------------------------------------------------------------------

    def add_domain(self, name: str) -> Domain:
        name = name.lower()
        if not _DOMAIN.fullmatch(name):
            raise WorkspaceError(f"domain: '{name}' is not a domain name")
        return self.domains.setdefault(name, Domain(name))

    def domain(self, name: str) -> Domain:
        found = self.domains.get(name.lower())
        if found is None:
            raise WorkspaceError(f"domain: no Workspace domain '{name}'")
        return found

    def add_user(self, domain: Domain, email: str, name: str, locale: str = "en") -> DomainUser:
        email = email.lower()
        local, at, host = email.partition("@")
        if not at or not local or host != domain.name:
            raise WorkspaceError(f"email: '{email}' is not an address in {domain.name}")
        if self.oauth.find_identity(email) is not None:
            raise WorkspaceError(f"email: '{email}' is already a Google account")
        given, _, family = name.partition(" ")
        identity = Identity(self._number("12"), email, name, given, family, locale)
        self.oauth.identities[identity.sub] = identity
        user = DomainUser(identity)
        domain.users[identity.sub] = user
        return user

    def user(self, key: str) -> tuple[Domain, DomainUser]:
        lowered = key.lower()
        for domain in self.domains.values():
            for user in domain.users.values():
                if lowered in (user.identity.sub, user.identity.email):
                    return domain, user
        raise WorkspaceError(f"user: no Workspace user '{key}'")

    def set_suspended(self, key: str, suspended: bool) -> DomainUser:
        _, user = self.user(key)
        user.suspended = suspended
        if suspended:
            self._end_tokens(user.identity.sub)
        return user

    def delete_user(self, key: str) -> DomainUser:
        _, user = self.user(key)
        user.deleted = True
        self._end_tokens(user.identity.sub)
        return user

    def _end_tokens(self, sub: str) -> None:
        # A suspended or deleted user's tokens stop working at once (*stricter*: Google may lag).
        for record in (*self.oauth.access_tokens.values(), *self.oauth.refresh_tokens.values()):
            if record.sub == sub:
                record.revoked = True

    def set_delegation(self, domain: Domain, client_id: str, scopes: Iterable[str]) -> frozenset[str]:
        canonical = self._known_scopes(scopes)
        if client_id not in {a.unique_id for a in self.service_accounts.values()} and not client_id.isdigit():
            raise WorkspaceError(f"client_id: '{client_id}' is not a numeric client id")
        if canonical:
            domain.delegations[client_id] = canonical
        else:
            domain.delegations.pop(client_id, None)
        return canonical

    def set_marketplace(self, domain: Domain, project_id: str, scopes: Iterable[str]) -> frozenset[str]:
        canonical = self._known_scopes(scopes)
        if canonical:
            domain.marketplace[project_id] = canonical
        else:
            domain.marketplace.pop(project_id, None)
        return canonical

    @staticmethod
    def _known_scopes(scopes: Iterable[str]) -> frozenset[str]:
        result = frozenset(scopes)
        unknown = sorted(s for s in result if s not in SCOPE_DESCRIPTIONS)
        if unknown:
            raise WorkspaceError(f"scopes: the emulator does not know {', '.join(unknown)}")
        return result

    # --- service accounts and keys ----------------------------------------------------------

    def create_service_account(self, project_id: str, account_id: str, display_name: str) -> ServiceAccount:
        if not _ACCOUNT_ID.fullmatch(account_id):
            raise WorkspaceError(
                f"account_id: '{account_id}' must be 6-30 lowercase letters, digits or hyphens"
            )
        if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", project_id):
            raise WorkspaceError(f"project_id: '{project_id}' is not a Cloud project id")
        email = f"{account_id}@{project_id}.iam.gserviceaccount.com"
        if email in self.service_accounts:
            raise WorkspaceError(f"account_id: {email} exists already")
        account = ServiceAccount(email, self._number("10"), project_id, display_name)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        system = self._add_key(account, private, user_managed=False)
        self._system_keys[system.key_id] = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.service_accounts[email] = account
        return account

    def service_account(self, key: str) -> ServiceAccount:
        found = self.service_accounts.get(key.lower()) or next(
            (a for a in self.service_accounts.values() if a.unique_id == key), None
        )
        if found is None:
            raise WorkspaceError(f"service_account: no service account '{key}'")
        return found

    @staticmethod
    def _add_key(account: ServiceAccount, private: rsa.RSAPrivateKey, user_managed: bool) -> ServiceKey:
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key = ServiceKey(_key_id(public), public, user_managed)
        account.keys[key.key_id] = key
        return key

    def create_key(self, account: ServiceAccount, token_uri: str, base_url: str) -> dict[str, str]:
        """A new key and its JSON key file, shaped as the Cloud console's download."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = self._add_key(account, private, user_managed=True)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        return {
            "type": "service_account",
            "project_id": account.project_id,
            "private_key_id": key.key_id,
            "private_key": pem,
            "client_email": account.email,
            "client_id": account.unique_id,
            "auth_uri": f"{base_url}/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": f"{base_url}/oauth2/v1/certs",
            "client_x509_cert_url": f"{base_url}/service_accounts/v1/metadata/x509/{account.email}",
            "universe_domain": "googleapis.com",
        }

    def user_key(self, account: ServiceAccount, key_id: str) -> ServiceKey:
        key = account.keys.get(key_id)
        if key is None or not key.user_managed:
            raise WorkspaceError(f"key_id: {account.email} has no key '{key_id}'")
        return key

    def delete_service_account(self, account: ServiceAccount) -> None:
        del self.service_accounts[account.email]
        for key_id in account.keys:
            self._system_keys.pop(key_id, None)
        self._end_tokens(account.unique_id)

    # --- the JWT-bearer grant ---------------------------------------------------------------

    def jwt_bearer(self, assertion: str, now: float) -> Tokens:
        """Google's checks on a JWT-bearer assertion, in the order its answers suggest."""
        parts = assertion.split(".")
        try:
            if len(parts) != 3:
                raise ValueError
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.")
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT: the signing algorithm must be RS256.")
        account = self.service_accounts.get(str(claims.get("iss", "")).lower())
        if account is None or account.disabled:
            raise OAuthError("invalid_grant", ACCOUNT_NOT_FOUND)
        if not self._signed_by(account, header.get("kid"), f"{parts[0]}.{parts[1]}", signature):
            raise OAuthError("invalid_grant", BAD_SIGNATURE)
        if claims.get("aud") != GOOGLE_TOKEN_URI:
            raise OAuthError("invalid_grant", BAD_AUDIENCE)
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or exp <= iat
            or exp - iat > MAX_ASSERTION_LIFETIME
            or iat > now + CLOCK_SKEW
            or exp <= now
        ):
            raise OAuthError("invalid_grant", BAD_TIMEFRAME)
        scope = claims.get("scope")
        requested = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        if not requested or not requested <= SCOPE_DESCRIPTIONS.keys() | SERVICE_ACCOUNT_SCOPES:
            raise OAuthError("invalid_scope", BAD_SCOPE)
        subject = claims.get("sub")
        if subject is None or subject == account.email:
            return self._own_token(account, requested)
        if not isinstance(subject, str):
            raise OAuthError("invalid_grant", BAD_SUBJECT)
        try:
            domain, user = self.user(subject)
        except WorkspaceError:
            raise OAuthError("invalid_grant", BAD_SUBJECT) from None
        if user.deleted:
            raise OAuthError("invalid_grant", DELETED_SUBJECT)
        if user.suspended:
            raise OAuthError("invalid_grant", BAD_SUBJECT)
        if not requested <= domain.authorized_scopes(account):
            raise OAuthError("unauthorized_client", UNAUTHORIZED_CLIENT, 401)
        return self._issue(user.identity.sub, account, requested)

    def _signed_by(self, account: ServiceAccount, kid: Any, signing_input: str, signature: bytes) -> bool:
        keys = [account.keys[kid]] if isinstance(kid, str) and kid in account.keys else []
        if kid is None:
            keys = list(account.keys.values())
        for key in keys:
            if key.disabled:
                continue
            public = serialization.load_pem_public_key(key.public_pem)
            assert isinstance(public, rsa.RSAPublicKey)
            try:
                public.verify(signature, signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            return True
        return False

    def _own_token(self, account: ServiceAccount, requested: frozenset[str]) -> Tokens:
        if not requested <= SERVICE_ACCOUNT_SCOPES:
            # *stricter*: a service account's own token is only ever needed here for the IAM API.
            raise OAuthError("invalid_scope", BAD_SCOPE)
        return self._issue(account.unique_id, account, requested)

    def _issue(self, sub: str, account: ServiceAccount, scopes: frozenset[str]) -> Tokens:
        access = self.oauth.issue_access_token(sub, account.unique_id, scopes)
        return Tokens(sub, account.unique_id, scopes, access, self.oauth.token_lifetime, None, None)

    # --- IAM Credentials signJwt ------------------------------------------------------------

    def sign_jwt(
        self, caller_sub: str, target: ServiceAccount, payload: Mapping[str, Any]
    ) -> tuple[str, str]:
        """Sign ``payload`` with ``target``'s Google-managed key; the caller must be allowed to."""
        if caller_sub != target.unique_id and caller_sub not in target.token_creators:
            raise PermissionError(target.email)
        key_id = next(k.key_id for k in target.keys.values() if not k.user_managed)
        private = serialization.load_pem_private_key(self._system_keys[key_id], password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        header = {"alg": "RS256", "kid": key_id, "typ": "JWT"}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, payload)
        )
        signature = private.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return key_id, f"{signing_input}.{b64url(signature)}"
