"""Where Google lives: Google itself, or the local emulator when ``GOOGLE_EMULATOR_HOST`` is set.

Every OAuth, OpenID Connect and People API URL GroupSync uses comes from here, so the
emulator switch is one setting and no code path can reach the real Google by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings

CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts"
SIGN_IN_SCOPES = ("openid", "email", "profile")
GOOGLE_ID_TOKEN_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
"""The only ``iss`` values an ID token may carry, in every mode: the emulator signs as Google does,
with its own keys served at ``certs_uri``, so the issuer check has no emulator case."""


@dataclass(frozen=True)
class GoogleEndpoints:
    auth_uri: str
    token_uri: str
    revoke_uri: str
    userinfo_uri: str
    certs_uri: str
    people_api: str
    """The ``api_endpoint`` handed to google-api-python-client."""

    @property
    def auth_origin(self) -> str:
        scheme, _, rest = self.auth_uri.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @classmethod
    def for_settings(cls, settings: Settings) -> GoogleEndpoints:
        if settings.google_emulator_host:
            return cls.emulator(settings.google_emulator_host)
        return cls(
            auth_uri="https://accounts.google.com/o/oauth2/v2/auth",
            token_uri="https://oauth2.googleapis.com/token",
            revoke_uri="https://oauth2.googleapis.com/revoke",
            userinfo_uri="https://openidconnect.googleapis.com/v1/userinfo",
            certs_uri="https://www.googleapis.com/oauth2/v1/certs",
            people_api="https://people.googleapis.com",
        )

    @classmethod
    def emulator(cls, host: str) -> GoogleEndpoints:
        base = f"http://{host}"
        return cls(
            auth_uri=f"{base}/o/oauth2/v2/auth",
            token_uri=f"{base}/token",
            revoke_uri=f"{base}/revoke",
            userinfo_uri=f"{base}/v1/userinfo",
            certs_uri=f"{base}/oauth2/v1/certs",
            people_api=base,
        )
