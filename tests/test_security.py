"""The web security baseline: headers, session cookie, CSRF on every state change, no state change
on GET, pages without inline script or style, and ``next=`` limited to this site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.accounts.models import Account, Role
from app.config import Settings
from app.web_security import safe_next
from tests.conftest import Factory, make_settings, sign_in_client
from tests.test_route_matrix import ALL_ROUTES, ROUTES, Route, fill_url, rows_outside

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
OAUTH_CALLBACKS = frozenset({"auth.callback", "google.callback"})
"""Google redirects the browser back with a GET; ``state`` (single use, bound to the browser) is
their CSRF guard, so they are the one kind of GET that changes state."""
AUDIT_TABLES = frozenset({"ledger_entry", "ledger_head"})
"""Viewing or exporting Google-derived data is itself recorded: the only write a page view may cause."""

VIEWS_RECORDED_IN_THE_AUDIT_TRAIL = {
    "subject_requests.admin_detail": "an admin reading a person's data request",
}
"""Pages whose every view is written to the account's audit trail (and nothing else)."""
ACCOUNT_AUDIT_TABLES = frozenset({"account_audit_entry", "account_audit_head"})

_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"<[^>]+\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<[^>]+\son[a-z]+\s*=", re.I), "event-handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def _admin(app: Flask, factory: Factory) -> tuple[FlaskClient, Account]:
    account = factory.account("Own")
    return sign_in_client(app, factory.member(account, Role.ADMIN)), account


def test_security_headers_on_pages_redirects_and_errors(app: Flask, factory: Factory) -> None:
    client, _ = _admin(app, factory)
    for response in (
        app.test_client().get("/"),
        app.test_client().get("/dashboard"),
        client.get("/dashboard"),
        client.get("/no-such-page"),
    ):
        csp = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert client.get("/dashboard").headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient) -> None:
    cookie = client.get("/sign-in").headers["Set-Cookie"]
    assert cookie.startswith("groupsync_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie, "test mode runs on plain HTTP"


def test_session_cookie_is_secure_outside_relaxed_modes(database_url: str, tmp_path: Path) -> None:
    secure_app = create_app(make_settings(database_url, tmp_path, session_cookie_secure=True))
    cookie = secure_app.test_client().get("/sign-in").headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "Strict-Transport-Security" in secure_app.test_client().get("/").headers


@pytest.mark.parametrize(
    ("mode", "secure"), [("production", True), ("development", False), ("demo", False), ("test", False)]
)
def test_secure_cookie_default_follows_the_mode(mode: str, secure: bool, tmp_path: Path) -> None:
    env = {
        "GROUPSYNC_ENV": mode,
        "GROUPSYNC_INSTANCE_PATH": str(tmp_path),
        "GROUPSYNC_SECRET_KEY": "s" * 40,
        "GROUPSYNC_GOOGLE_CLIENT_ID": "id.apps.googleusercontent.com",
        "GROUPSYNC_GOOGLE_CLIENT_SECRET": "c" * 20,
        "GROUPSYNC_TOKEN_KEYS": "k1:" + "A" * 43 + "=",
        "GROUPSYNC_PUBLIC_URL": "https://groupsync.example.com",
        "GROUPSYNC_OPERATOR_NAME": "Acme CRM LLC",
        "GROUPSYNC_OPERATOR_ADDRESS": "Kyiv",
        "GROUPSYNC_SUPPORT_EMAIL": "support@acme.example",
        "GROUPSYNC_PRIVACY_EMAIL": "dpo@acme.example",
        "GROUPSYNC_MAIL_FROM": "groupsync@acme.example",
        "GROUPSYNC_MAIL_TRANSPORT": "smtp://smtp.acme.example:587",
    }
    settings = Settings.from_env(env)
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is secure
    assert settings.flask_config()["SESSION_COOKIE_HTTPONLY"] is True


def _browser_routes(routes: list[Route], methods: tuple[str, ...]) -> list[Route]:
    return [r for r in routes if not r.is_api and r.method in methods]


@pytest.mark.parametrize("route", _browser_routes(ALL_ROUTES, STATE_CHANGING), ids=str)
def test_every_state_change_needs_a_csrf_token(route: Route, app: Flask, factory: Factory) -> None:
    client, account = _admin(app, factory)
    url = fill_url(route, account, "own")
    before = rows_outside(None)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.open(url, method=route.method, data=data)
        assert response.status_code == 400, f"{route} accepted a request without a valid CSRF token"
        assert "CSRF" in response.get_data(as_text=True)
    assert rows_outside(None) == before


def test_signing_in_needs_a_csrf_token_too(client: FlaskClient) -> None:
    assert client.post("/sign-in", data={"next": "/"}).status_code == 400


def test_the_csrf_exempt_api_ignores_the_browser_session(app: Flask, factory: Factory) -> None:
    """The API is exempt from CSRF because it authenticates by API key only: a signed-in
    browser's cookie must not authorise anything there."""
    client, _ = _admin(app, factory)
    assert client.get("/api/v1/contacts").status_code == 401
    assert client.put("/api/v1/contacts/x", json={"given_name": "x"}).status_code == 401


@pytest.mark.parametrize(
    "route", [r for r in _browser_routes(ROUTES, ("GET",)) if r.endpoint not in OAUTH_CALLBACKS], ids=str
)
def test_pages_change_nothing_and_carry_no_inline_code(route: Route, app: Flask, factory: Factory) -> None:
    client, account = _admin(app, factory)
    url = fill_url(route, account, "own")
    recorded = route.endpoint in VIEWS_RECORDED_IN_THE_AUDIT_TRAIL
    may_write = AUDIT_TABLES | ACCOUNT_AUDIT_TABLES if recorded else AUDIT_TABLES
    before = rows_outside(None, may_write)
    audit_before = rows_outside(None, frozenset()) if recorded else []
    response = client.get(url)
    assert response.status_code < 500
    assert rows_outside(None, may_write) == before, f"{route} changed stored data on GET"
    if recorded:
        assert len(rows_outside(None, frozenset())) > len(audit_before), f"{route} did not record the view"
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        for pattern, what in _INLINE:
            assert not pattern.search(html), f"{route} renders an {what}, which the CSP blocks"


def test_public_pages_carry_no_inline_code(client: FlaskClient) -> None:
    for path in ("/", "/sign-in", "/privacy"):
        html = client.get(path).get_data(as_text=True)
        for pattern, what in _INLINE:
            assert not pattern.search(html), f"{path} renders an {what}"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/members", "/account/members"),
        ("/ledger?purpose=sign_in", "/ledger?purpose=sign_in"),
        (None, "/home"),
        ("", "/home"),
        ("https://evil.example/", "/home"),
        ("//evil.example/", "/home"),
        ("///evil.example/", "/home"),
        ("/\\evil.example", "/home"),
        ("\\\\evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("http://localhost/dashboard", "/home"),
        ("dashboard", "/home"),
        ("/\tevil", "/home"),
    ],
)
def test_next_stays_on_this_site(app: Flask, target: str | None, expected: str) -> None:
    with app.test_request_context("/"):
        assert safe_next(target, "/home") == expected
