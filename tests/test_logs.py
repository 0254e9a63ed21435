"""Canary secrets planted through real flows never reach a log line.

GroupSync runs on a real HTTP server against the emulator with every logger at DEBUG (so
oauthlib, requests-oauthlib, urllib3 and werkzeug say all they can), and the output of the
log handler is searched for each canary: the client secret (plain and as an HTTP Basic
credential), authorization codes, the PKCE verifier, the access, refresh and ID tokens the
emulator issued, an API key, and contact data sent through the CRM API.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from app.auth.services import _derive
from app.crm import services as crm_services
from app.extensions import db
from app.logs import REDACTED, RedactionFilter, redactor
from groupsync_emulator.cli import RunningEmulator
from tests.live_server import LiveApp, live_app

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CONTACT = {
    "given_name": "Zoryana",
    "family_name": "Canaryenko",
    "company": "Canary Works Ltd",
    "emails": [{"value": "zoryana.canary@example.com", "type": "work"}],
    "phones": [{"value": "+380 44 555 0199", "type": "mobile"}],
    "notes": "Met at the canary conference",
}


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Everything GroupSync's log handler writes while the block runs."""
    stream = io.StringIO()
    handlers = [
        h
        for h in logging.getLogger().handlers
        if getattr(h, "_groupsync", False) and isinstance(h, logging.StreamHandler)
    ]
    assert handlers, "GroupSync's log handler is not installed"
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield stream
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


@pytest.fixture
def token_responses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every token response any HTTP client in this process received (to know the tokens to look for)."""
    seen: list[dict[str, Any]] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = original(self, request, **kwargs)
        if request.url and urlsplit(request.url).path == "/token":
            with contextlib.suppress(ValueError):
                seen.append(response.json())
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    return seen


def _form(browser: requests.Session, live: LiveApp, page: str, action: str) -> dict[str, str]:
    html = browser.get(live.url + page, timeout=10).text
    form = html[html.index(f'action="{action}"') :]
    return dict(_HIDDEN.findall(form[: form.index("</form>")]))


def _through_google(
    browser: requests.Session, live: LiveApp, start: requests.Response, **consent: Any
) -> str:
    assert start.status_code in {302, 303}, start.status_code
    live.google.preset_consent(consent.pop("identity", "ada.lovelace@example.com"), **consent)
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    location: str = answer.headers["Location"]
    return location


def _sign_in(browser: requests.Session, live: LiveApp) -> tuple[str, str]:
    form = _form(browser, live, "/sign-in", "/sign-in")
    start = browser.post(f"{live.url}/sign-in", data=form, allow_redirects=False, timeout=10)
    callback = _through_google(browser, live, start)
    browser.get(callback, allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(callback).query)
    return query["code"][0], query["state"][0]


def test_no_secret_or_contact_data_reaches_the_logs(
    emulator: RunningEmulator, tmp_path: Path, token_responses: list[dict[str, Any]]
) -> None:
    root = logging.getLogger()
    level = root.level
    # log_level=DEBUG: the live app sets the root logger to DEBUG when it installs its handler.
    with live_app(emulator, tmp_path, log_level="DEBUG") as live, captured_logs() as log_output:
        settings = live.app.config["GROUPSYNC"]
        canaries = {
            "client secret": settings.google_client_secret,
            "basic credential": base64.b64encode(
                f"{settings.google_client_id}:{settings.google_client_secret}".encode()
            ).decode(),
            "session secret key": settings.secret_key,
        }

        browser = requests.Session()
        code, state = _sign_in(browser, live)
        canaries["authorization code"] = code
        canaries["PKCE verifier"] = _derive(settings, "pkce", state)
        assert browser.get(f"{live.url}/dashboard", timeout=10).status_code == 200

        invite = _form(browser, live, "/account/members", "/account/invitations")
        invite.update(email="invitee.canary@example.com", role="member")
        browser.post(f"{live.url}/account/invitations", data=invite, timeout=10)
        canaries["invited address"] = "invitee.canary@example.com"

        # A sign-in that Google refuses, with the refused code in the callback URL.
        stranger = requests.Session()
        start = stranger.post(
            f"{live.url}/sign-in",
            data=_form(stranger, live, "/sign-in", "/sign-in"),
            allow_redirects=False,
            timeout=10,
        )
        callback = _through_google(stranger, live, start, identity="grace.hopper@example.org")
        bad_code = "4/0AcanaryRefusedCode" + "x" * 20
        refused = re.sub(r"code=[^&]+", "code=" + quote(bad_code, safe=""), callback)
        stranger.get(refused, allow_redirects=False, timeout=10)
        canaries["refused code"] = bad_code

        # Connecting Google Contacts: offline access, so a refresh token is issued too.
        connect = _form(browser, live, "/google/disclosure", "/google/connect")
        start = browser.post(f"{live.url}/google/connect", data=connect, allow_redirects=False, timeout=10)
        callback = _through_google(browser, live, start)
        browser.get(callback, allow_redirects=False, timeout=10)
        canaries["contacts authorization code"] = parse_qs(urlsplit(callback).query)["code"][0]

        with live.app.app_context():
            _, api_secret = crm_services.create_api_key(db.session(), 1, "canary key", None)
        canaries["API key"] = api_secret
        api = requests.put(
            f"{live.url}/api/v1/contacts/canary-1",
            json=CONTACT,
            headers={"Authorization": f"Bearer {api_secret}"},
            timeout=10,
        )
        assert api.status_code in {200, 201}, api.text
        requests.get(
            f"{live.url}/api/v1/contacts/canary-1",
            headers={"Authorization": f"Bearer {api_secret}"},
            timeout=10,
        )

    issued = [r for r in token_responses if "access_token" in r]
    assert len(issued) >= 2, "the flows above should have obtained tokens"
    for n, response in enumerate(issued):
        for field in ("access_token", "refresh_token", "id_token"):
            if field in response:
                canaries[f"{field} #{n}"] = response[field]
    assert any("refresh_token" in r for r in issued)
    canaries.update({f"contact {k}": v for k, v in CONTACT.items() if isinstance(v, str)})
    canaries["contact e-mail"] = CONTACT["emails"][0]["value"]
    canaries["contact phone"] = CONTACT["phones"][0]["value"]

    root.setLevel(level)
    output = log_output.getvalue()
    # The capture really saw the chatty libraries and the request lines.
    assert '"POST /token HTTP/1.1" 200' in output, "the token requests went by the capture"
    assert "Starting new HTTP connection" in output
    assert "/auth/callback" in output
    assert "/api/v1/contacts/canary-1" in output
    leaks = {
        name: value
        for name, value in canaries.items()
        if value in output or quote(value, safe="") in output or json.dumps(value)[1:-1] in output
    }
    assert not leaks, f"found in the logs: {sorted(leaks)}"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    ("logged", "secrets"),
    [
        ("{'Authorization': 'Basic Y2xpZW50OnNlY3JldC12YWx1ZQ=='}", ["Y2xpZW50OnNlY3JldC12YWx1ZQ=="]),
        ("{'Authorization': 'Bearer opaque-access-value'}", ["opaque-access-value"]),
        (
            "grant_type=authorization_code&code=4%2F0AbCdEfGhIjKlMnOp&code_verifier=verifier-value",
            ["4%2F0AbCdEfGhIjKlMnOp", "verifier-value"],
        ),
        (
            '{"access_token": "opaque-access", "refresh_token": "opaque-refresh"}',
            ["opaque-access", "opaque-refresh"],
        ),
        ("GET /auth/callback?state=st4te-value&code=c0de-value HTTP/1.1", ["st4te-value", "c0de-value"]),
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", ["eyJzdWIiOiIxIn0", "c2lnbmF0dXJl"]),
        ("ya29.a0AfB_token and 1//0refresh-token", ["a0AfB_token", "0refresh-token"]),
        ("olena@example.com, +380 44 123 4567", ["olena@example.com", "123 4567"]),
    ],
)
def test_redaction_filter_covers_the_shapes_libraries_log(logged: str, secrets: list[str]) -> None:
    record = _record("logged %s", logged)
    RedactionFilter().filter(record)
    text = record.getMessage()
    assert REDACTED in text
    for secret in secrets:
        assert secret not in text, text


def test_registered_secrets_exceptions_and_extras_are_redacted() -> None:
    redactor.register("plain-registered-canary")
    try:
        raise ValueError("failed with plain-registered-canary")
    except ValueError:
        record = logging.LogRecord("test", logging.ERROR, __file__, 1, "oops", (), None)
        record.exc_info = sys.exc_info()
    record.__dict__["url"] = "https://x.example/cb?code=4/0Asecretcode1234"
    RedactionFilter().filter(record)
    assert "plain-registered-canary" not in record.getMessage()
    assert "ValueError" in record.getMessage()
    assert record.exc_info is None
    assert "4/0Asecretcode1234" not in record.__dict__["url"]
