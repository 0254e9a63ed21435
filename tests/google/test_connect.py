"""The connect flow end to end against the emulator: disclosure, incremental consent, callback."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.accounts.models import Membership, Role
from app.extensions import db
from app.google.endpoints import CONTACTS_SCOPE, GoogleEndpoints
from app.google.models import ConnectionStatus, ConsentRequest, StatusReason
from app.google.services import PeopleCallForbiddenError
from app.google.tokens import ATTEMPTS
from app.ledger.events import EventTag
from app.privacy import disclosure
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import current_policy_version
from app.sync.services import ensure_may_call_people
from groupsync_emulator.cli import RunningEmulator
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import (
    ADA,
    ADA_EMAIL,
    callback_params,
    connect,
    connection_of,
    consent,
    csrf_token,
    ledger,
    settings_of,
    start,
)

SignedIn = Callable[[Membership], FlaskClient]
GRACE = "110000000000000000003"


def _only_oauth_requests(google: HooksClient) -> bool:
    """Whether the emulator served OAuth requests only: no People API call was made."""
    methods = {str(entry.get("method")) for entry in google.log()}
    return bool(methods) and all(method.startswith("oauth2.") for method in methods)


@pytest.fixture
def member(factory: Factory) -> Membership:
    return factory.member(factory.account(), Role.MEMBER)


def _live_refresh_tokens(emulator: RunningEmulator, sub: str) -> int:
    """How many refresh tokens of ``sub`` the emulator's token endpoint would still honour."""
    state = emulator.state
    with state.lock:
        now = state.oauth.clock.now()
        return sum(1 for token in state.oauth.refresh_tokens.values() if token.sub == sub and token.live(now))


def test_disclosure_comes_first_and_needs_an_affirmative_post(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    client = signed_in(member)
    page = client.get("/google/disclosure")
    assert page.status_code == 200
    current = disclosure.current()
    assert f'data-version="{current.version}"' in page.text
    for promise in ("only inside that group", "never do", "advertising", "train", "stay there", "/privacy"):
        assert promise in page.text
    assert client.get("/google/connect").status_code == 405
    # Without accepting, a POST leads back to the disclosure, never towards Google.
    refused = client.post("/google/connect", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 302
    assert refused.location.endswith("/google/disclosure")
    assert db.session.scalar(select(func.count()).select_from(ConsentRequest)) == 0
    assert google.log() == []


def test_accepting_stores_the_version_and_sends_an_incremental_offline_pkce_request(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    started = start(signed_in(member))
    assert started.status_code == 303
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.location).query).items()}
    assert set(query["scope"].split()) == {"openid", "email", CONTACTS_SCOPE}
    assert query["include_granted_scopes"] == "true"
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"].endswith("/google/callback")
    acceptance = db.session.scalars(select(DisclosureAcceptance)).one()
    assert (acceptance.user_id, acceptance.version, acceptance.policy_version) == (
        member.user_id,
        disclosure.current().version,
        current_policy_version(),
    )
    tags = [entry.tag for entry in ledger(member.account_id)]
    assert tags == [EventTag.DISCLOSURE_ACCEPTED.value]


def test_granted_contacts_connects_and_the_callback_redirects_at_once(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    client = signed_in(member)
    started = start(client)
    path = consent(google, started.location, identity=ADA)
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.location.endswith("/google/")
    assert callback_params(path)["code"] not in answer.text
    connection = connection_of(member)
    assert connection is not None
    assert connection.status is ConnectionStatus.CONNECTED
    assert connection.is_usable
    assert connection.google_sub == ADA
    assert connection.email == ADA_EMAIL
    assert CONTACTS_SCOPE in connection.scopes
    assert connection.refresh_token_ciphertext is not None
    ensure_may_call_people(db.session(), connection)
    page = client.get("/google/")
    assert f"Connected as {ADA_EMAIL}" in page.text
    assert "Google Contacts connected" in page.text
    entries = ledger(member.account_id)
    exchange = [e for e in entries if e.method == "oauth2.token.exchange"]
    assert [(e.tag, e.kind, e.outcome, e.destination) for e in exchange] == [
        (EventTag.GOOGLE_REQUEST.value, "token", "200", "google")
    ]
    assert '"oauthTokens"' in exchange[0].categories
    granted = [e for e in entries if e.tag == EventTag.CONSENT_GRANTED.value]
    assert len(granted) == 1
    assert CONTACTS_SCOPE in granted[0].detail


def test_the_answer_is_single_use_and_bound_to_the_browser_session(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    first, other_browser = signed_in(member), signed_in(member)
    path = consent(google, start(first).location, identity=ADA)
    stolen = other_browser.get(path)
    assert stolen.status_code == 303
    assert "did not match" in other_browser.get("/google/").text
    assert connection_of(member) is None
    # The request was consumed by the mismatch: not even the right browser can use it now.
    first.get(path)
    assert connection_of(member) is None
    assert "did not match" in first.get("/google/").text


def test_the_answer_is_bound_to_the_user(factory: Factory, signed_in: SignedIn, google: HooksClient) -> None:
    account = factory.account()
    alice, bob = factory.member(account), factory.member(account)
    path = consent(google, start(signed_in(alice)).location, identity=ADA)
    signed_in(bob).get(path)
    assert connection_of(alice) is None
    assert connection_of(bob) is None


def test_deny_keeps_sync_off_and_says_how_to_retry(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    client = signed_in(member)
    answer = connect(client, google, deny=True)
    assert answer.status_code == 303
    assert connection_of(member) is None
    page = client.get("/google/").text
    assert "declined" in page
    assert "connect again" in page
    denied = [e for e in ledger(member.account_id) if e.tag == EventTag.CONSENT_DENIED.value]
    assert [e.outcome for e in denied] == ["denied"]
    assert _only_oauth_requests(google)


def test_unticked_contacts_scope_keeps_sync_off(
    member: Membership, signed_in: SignedIn, google: HooksClient
) -> None:
    client = signed_in(member)
    connect(client, google, scopes=["openid", "email"])
    assert connection_of(member) is None
    page = client.get("/google/").text
    assert "did not give GroupSync access to your contacts" in page
    assert "leave the contacts permission ticked" in page
    denied = [e for e in ledger(member.account_id) if e.tag == EventTag.CONSENT_DENIED.value]
    assert [e.outcome for e in denied] == ["contacts_not_granted"]
    assert CONTACTS_SCOPE not in denied[0].detail
    assert _only_oauth_requests(google)


def test_reconsent_without_contacts_stops_an_existing_connection(
    member: Membership, signed_in: SignedIn, google: HooksClient, app: Flask
) -> None:
    client = signed_in(member)
    connect(client, google)
    google.revoke_grant(ADA, app.config["GROUPSYNC"].google_client_id)
    connect(client, google, scopes=["openid", "email"])
    connection = connection_of(member)
    assert connection is not None
    assert connection.status is ConnectionStatus.NEEDS_RECONNECT
    assert connection.status_reason is StatusReason.CONTACTS_NOT_GRANTED
    assert connection.refresh_token_ciphertext is None
    with pytest.raises(PeopleCallForbiddenError):
        ensure_may_call_people(db.session(), connection)
    assert "Reconnect Google Contacts" in client.get("/google/").text


def test_people_gate_requires_the_current_disclosure(
    member: Membership,
    signed_in: SignedIn,
    google: HooksClient,
    tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect(signed_in(member), google)
    connection = connection_of(member)
    assert connection is not None
    ensure_may_call_people(db.session(), connection)
    content = disclosure.CONTENT_DIR
    newer = tmp_path / "disclosure"  # type: ignore[operator]
    newer.mkdir()
    for version in disclosure.versions():
        (newer / f"{version}.md").write_text((content / f"{version}.md").read_text(encoding="utf-8"))
    next_version = f"v{len(disclosure.versions()) + 1}"
    (newer / f"{next_version}.md").write_text("## Updated\n\nGroupSync now also copies a new field.\n")
    monkeypatch.setattr(disclosure, "CONTENT_DIR", newer)
    disclosure.load.cache_clear()
    try:
        assert disclosure.current().version == next_version
        with pytest.raises(PeopleCallForbiddenError) as refused:
            ensure_may_call_people(db.session(), connection)
        assert refused.value.reason == "disclosure_not_accepted"
    finally:
        disclosure.load.cache_clear()


def test_reviewers_cannot_connect(factory: Factory, signed_in: SignedIn) -> None:
    reviewer = factory.member(factory.account(), Role.REVIEWER)
    client = signed_in(reviewer)
    assert client.get("/google/").status_code == 403
    assert client.get("/google/disclosure").status_code == 403


def test_dashboard_links_to_the_connection_page(member: Membership, signed_in: SignedIn) -> None:
    page = signed_in(member).get("/dashboard").text
    assert 'href="/google/"' in page


def test_a_signed_out_callback_drops_the_code(
    member: Membership, signed_in: SignedIn, google: HooksClient, client: FlaskClient
) -> None:
    path = consent(google, start(signed_in(member)).location, identity=ADA)
    answer = client.get(path)
    assert answer.status_code == 302
    target = urlsplit(answer.location)
    assert target.path == "/sign-in"
    assert parse_qs(target.query) == {"next": ["/google/"]}
    assert connection_of(member) is None


def test_reconnecting_must_use_the_connected_google_account(
    member: Membership, signed_in: SignedIn, google: HooksClient, app: Flask
) -> None:
    client = signed_in(member)
    connect(client, google)
    google.revoke_grant(ADA, app.config["GROUPSYNC"].google_client_id)
    connection = connection_of(member)
    assert connection is not None
    connection.mark_needs_reconnect(StatusReason.ACCESS_REVOKED)
    db.session.commit()
    connect(client, google, identity=GRACE)
    connection = connection_of(member)
    assert connection is not None
    assert (connection.google_sub, connection.status) == (ADA, ConnectionStatus.NEEDS_RECONNECT)
    assert f"Reconnect with {ADA_EMAIL}" in client.get("/google/").text
    connect(client, google, identity=ADA)
    connection = connection_of(member)
    assert connection is not None
    assert connection.is_usable


def test_a_strange_error_parameter_is_not_copied_anywhere(member: Membership, signed_in: SignedIn) -> None:
    client = signed_in(member)
    state = parse_qs(urlsplit(start(client).location).query)["state"][0]
    answer = client.get("/google/callback", query_string={"state": state, "error": "x@example.com <b>"})
    assert answer.status_code == 303
    denied = [e for e in ledger(member.account_id) if e.tag == EventTag.CONSENT_DENIED.value]
    assert [e.detail for e in denied] == ['{"error":"other"}']
    assert "example.com" not in client.get("/google/").text


def _revoke_requests(google: HooksClient) -> list[tuple[str | None, int]]:
    return [(entry["sub"], entry["status"]) for entry in google.log() if entry["method"] == "oauth2.revoke"]


def test_unticked_contacts_scope_revokes_the_tokens_google_issued(
    member: Membership,
    signed_in: SignedIn,
    google: HooksClient,
    emulator: RunningEmulator,
) -> None:
    connect(signed_in(member), google, scopes=["openid", "email"])
    assert connection_of(member) is None
    assert _revoke_requests(google) == [(ADA, 200)]
    assert _live_refresh_tokens(emulator, ADA) == 0
    entries = ledger(member.account_id)
    [exchange] = [e for e in entries if e.method == "oauth2.token.exchange"]
    revokes = [e for e in entries if e.method == "oauth2.revoke"]
    assert [
        (e.tag, e.kind, e.outcome, e.destination, e.purpose, e.trigger, e.user_id, e.google_account)
        for e in revokes
    ] == [
        (
            EventTag.GOOGLE_REQUEST.value,
            "token",
            "200",
            "google",
            "account_connection",
            "user_action",
            member.user_id,
            exchange.google_account,
        )
    ]


def test_choosing_another_google_account_revokes_its_tokens_and_keeps_the_connection(
    member: Membership,
    signed_in: SignedIn,
    google: HooksClient,
    emulator: RunningEmulator,
) -> None:
    client = signed_in(member)
    connect(client, google)
    connect(client, google, identity=GRACE)
    assert _revoke_requests(google) == [(GRACE, 200)]
    assert _live_refresh_tokens(emulator, GRACE) == 0
    assert _live_refresh_tokens(emulator, ADA) == 1
    connection = connection_of(member)
    assert connection is not None
    assert (connection.google_sub, connection.is_usable) == (ADA, True)
    entries = ledger(member.account_id)
    ada, grace = [e.google_account for e in entries if e.method == "oauth2.token.exchange"]
    assert ada != grace
    revokes = [e for e in entries if e.method == "oauth2.revoke"]
    assert [(e.outcome, e.google_account, e.user_id) for e in revokes] == [("200", grace, member.user_id)]


def test_a_google_account_another_connection_holds_is_not_revoked(
    factory: Factory,
    signed_in: SignedIn,
    google: HooksClient,
    emulator: RunningEmulator,
) -> None:
    # Google would end the whole grant of that account, the other member's connection with it.
    grace_owner = factory.member(factory.account(), Role.MEMBER)
    member = factory.member(factory.account(), Role.MEMBER)
    connect(signed_in(grace_owner), google, identity=GRACE)
    client = signed_in(member)
    connect(client, google)
    connect(client, google, identity=GRACE)
    assert _revoke_requests(google) == []
    assert _live_refresh_tokens(emulator, GRACE) == 2
    kept, refused = connection_of(grace_owner), connection_of(member)
    assert kept is not None
    assert refused is not None
    assert (kept.google_sub, kept.is_usable) == (GRACE, True)
    assert (refused.google_sub, refused.is_usable) == (ADA, True)


def test_a_failed_revocation_is_recorded_and_the_flow_ends_as_before(
    member: Membership,
    signed_in: SignedIn,
    google: HooksClient,
    app: Flask,
) -> None:
    revoke_uri = GoogleEndpoints.for_settings(settings_of(app)).revoke_uri
    client = signed_in(member)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as google_down:
        google_down.add_passthru("http")
        google_down.add(responses.POST, revoke_uri, status=503)
        connect(client, google, scopes=["openid", "email"])
    assert connection_of(member) is None
    assert "did not give GroupSync access to your contacts" in client.get("/google/").text
    revokes = [e for e in ledger(member.account_id) if e.method == "oauth2.revoke"]
    assert [e.outcome for e in revokes] == ["503"] * ATTEMPTS
