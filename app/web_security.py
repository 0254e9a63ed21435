"""Security headers and safe redirects for every response."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import Flask, Response, request

from app.config import Settings
from app.google.endpoints import GoogleEndpoints


def init_app(app: Flask, settings: Settings) -> None:
    auth_origin = GoogleEndpoints.for_settings(settings).auth_origin
    # form-action must admit the consent page: browsers apply it to the redirect after a POST.
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
        f"form-action 'self' {auth_origin}"
    )

    @app.after_request
    def set_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if settings.session_cookie_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint is not None and request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` only if it is a path on this site; anything else becomes ``default``."""
    if not target:
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(urljoin(request.host_url, target))
    own = urlsplit(request.host_url)
    if (
        parts.scheme != own.scheme
        or parts.netloc != own.netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return default
    return target
