"""A Workspace domain connected by its admin, end to end against the emulator: set-up, the test and
each of Google's refusals with its message, assignment, notices, syncs, turning off, failure."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh
from sqlalchemy import select

from app.accounts.models import Invitation, Membership, Role
from app.extensions import db
from app.google.domain_models import DomainMode, DomainNotice, DomainProblem, DomainStatus
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import ConnectionStatus, StatusReason
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.sync.models import RunOutcome, SyncStatus
from app.workspace import members, services
from app.workspace.messages import PROBLEMS
from groupsync_emulator.hooks import HooksClient
from tests.conftest import Factory
from tests.google.connecting import csrf_token
from tests.workspace.world import ADMIN, DOMAIN, PROJECT, TARAS, DomainWorld


@pytest.fixture
def world(app: Flask, google: HooksClient, factory: Factory, tmp_path: Path) -> DomainWorld:
    return DomainWorld(app, google, factory, tmp_path / "mail")


def _tag_count(account_id: int, tag: EventTag) -> int:
    return len(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id, LedgerEntry.tag == tag.value)
        ).all()
    )


def test_a_domain_is_set_up_users_are_told_and_their_groups_filled(world: DomainWorld) -> None:
    domain = world.ready()
    assert (domain.status, domain.problem) == (DomainStatus.ACTIVE, DomainProblem.NONE)
    sync = world.assign(world.taras)

    (mail,) = world.mails()
    assert mail["To"] == TARAS
    body = mail.get_content()
    assert world.admin.user.name in body
    assert "Acme CRM" in body
    assert "turn a sync off" in body
    assert "/workspace/my" in body
    assert "/privacy" in body
    assert db.session.scalar(select(DomainNotice).where(DomainNotice.user_id == world.taras.user_id))
    assert _tag_count(world.account.id, EventTag.DOMAIN_USER_NOTIFIED) == 1

    run = world.run(sync)
    assert run is not None
    assert run.outcome is RunOutcome.OK
    snap = world.snapshot(TARAS)
    assert len(snap["contacts"]) == 12
    tokens_for_taras = [
        e
        for e in world.google.log()
        if e["method"] == "oauth2.token" and e["client_id"] == world.key_file["client_id"]
    ]
    # The admin's test and Taras's first run: one token each.
    assert len(tokens_for_taras) == 2
    connection = world.connection(world.taras)
    assert connection.access_token_ciphertext is not None
    assert connection.refresh_token_ciphertext is None

    world.run(sync)
    again = [e for e in world.google.log() if e["method"] == "oauth2.token"]
    assert len(again) == 2, "a second run within the hour reuses the sealed token"


def test_assignment_needs_a_passed_test_the_statement_and_an_address_in_the_domain(
    world: DomainWorld,
) -> None:
    world.delegate()
    domain = world.connect()
    with pytest.raises(services.WorkspaceError, match="test the domain connection first"):
        world.assign(world.taras)
    assert services.test(db.session, world.settings, world.vault, domain, world.admin).ok
    with pytest.raises(services.WorkspaceError, match=r"not an address in acme\.example"):
        world.assign(world.outsider)
    assert world.mails() == []


def test_the_statement_is_versioned_and_recorded_once(world: DomainWorld) -> None:
    domain = world.connect()
    with pytest.raises(services.WorkspaceError, match="statement changed"):
        services.accept_statement(db.session, domain, world.admin, "1999-01-01")
    services.accept_statement(db.session, domain, world.admin, services.STATEMENT_VERSION)
    assert _tag_count(world.account.id, EventTag.DOMAIN_STATEMENT_ACCEPTED) == 1


def test_connecting_needs_the_admins_own_address_in_the_domain(world: DomainWorld) -> None:
    with pytest.raises(services.WorkspaceError, match=r"not in elsewhere\.example"):
        services.connect(
            db.session, world.admin, "elsewhere.example", DomainMode.CUSTOMER_KEY, world.settings
        )


# --- Google's answers, each with its message --------------------------------------------------------


def _no_delegation(world: DomainWorld) -> None:
    return None


def _readonly_delegation(world: DomainWorld) -> None:
    world.delegate(["https://www.googleapis.com/auth/contacts.readonly"])


def _admin_suspended(world: DomainWorld) -> None:
    world.delegate()
    world.ws.suspend(ADMIN)


def _admin_deleted(world: DomainWorld) -> None:
    world.delegate()
    world.ws.delete_user(ADMIN)


def _key_disabled(world: DomainWorld) -> None:
    world.delegate()
    world.ws.disable_key(world.key_file["client_email"], world.key_file["private_key_id"])


def _key_deleted(world: DomainWorld) -> None:
    world.delegate()
    world.ws.create_key(world.key_file["client_email"])
    world.ws.delete_key(world.key_file["client_email"], world.key_file["private_key_id"])


def _account_disabled(world: DomainWorld) -> None:
    world.delegate()
    world.ws.disable_service_account(world.key_file["client_email"])


@pytest.mark.parametrize(
    ("arrange", "problem", "words"),
    [
        (_no_delegation, DomainProblem.DELEGATION_MISSING, "unauthorized_client"),
        (_readonly_delegation, DomainProblem.DELEGATION_MISSING, "domain-wide delegation"),
        (_admin_suspended, DomainProblem.USER_NOT_IN_DOMAIN, "suspended"),
        (_admin_deleted, DomainProblem.USER_DELETED, "deleted from the domain"),
        (_key_disabled, DomainProblem.KEY_REJECTED, "disabled or deleted"),
        (_key_deleted, DomainProblem.KEY_REJECTED, "new JSON key"),
        (_account_disabled, DomainProblem.SERVICE_ACCOUNT_GONE, "disabled or deleted"),
    ],
)
def test_each_refusal_of_google_gets_its_message_on_the_set_up_page(
    world: DomainWorld,
    signed_in: Callable[[Membership], FlaskClient],
    arrange: Callable[[DomainWorld], None],
    problem: DomainProblem,
    words: str,
) -> None:
    world.connect()
    arrange(world)
    client = signed_in(world.admin)
    page = client.get("/workspace/")
    answer = client.post("/workspace/test", data={"csrf_token": csrf_token(page.text)}, follow_redirects=True)
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    db.session.refresh(domain)
    assert (domain.status, domain.problem) == (DomainStatus.FAILING, problem)
    text = html.unescape(answer.text)
    assert str(PROBLEMS[problem].what) in text
    assert str(PROBLEMS[problem].fix) in text
    assert words in text


def test_an_uninstalled_marketplace_app_is_named_as_such(world: DomainWorld, tmp_path: Path) -> None:
    key_path = tmp_path / "installation-key.json"
    key_path.write_text(world.key_text)
    world.settings = world.settings.with_overrides(domain_service_account_key_file=key_path)
    world.ws.set_marketplace(DOMAIN, PROJECT, [CONTACTS_SCOPE])
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.INSTALLATION, world.settings)
    assert domain.client_id == world.key_file["client_id"]
    assert services.test(db.session, world.settings, world.vault, domain, world.admin).ok
    world.ws.set_marketplace(DOMAIN, PROJECT, [])
    result = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert result.problem is DomainProblem.APP_UNINSTALLED
    assert "Marketplace" in str(PROBLEMS[result.problem].what)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("not json", "not JSON"),
        ('{"type": "authorized_user"}', '"type" is not "service_account"'),
        (
            '{"type": "service_account", "client_email": "x@p.iam.gserviceaccount.com"}',
            '"client_id" is missing',
        ),
    ],
)
def test_an_unusable_key_file_is_refused_naming_what_is_wrong(
    world: DomainWorld, text: str, named: str
) -> None:
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.CUSTOMER_KEY, world.settings)
    with pytest.raises(services.WorkspaceError, match=named):
        services.store_key(db.session, world.vault, domain, world.admin, text)
    assert domain.key_ciphertext is None


@pytest.mark.parametrize(
    ("language", "named"),
    [
        ("uk", 'файл ключа не можна використати: у файлі ключа немає "client_id"'),  # noqa: RUF001
        ("ru", 'в файле ключа нет "client_id"'),
    ],
)
def test_an_unusable_key_file_is_explained_in_the_admin_language(
    app: Flask, world: DomainWorld, language: str, named: str
) -> None:
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.CUSTOMER_KEY, world.settings)
    text = '{"type": "service_account", "client_email": "x@p.iam.gserviceaccount.com"}'
    with app.test_request_context(headers={"Accept-Language": language}):
        refresh()  # the locale is cached on the test's application context
        with pytest.raises(services.WorkspaceError) as refused:
            services.store_key(db.session, world.vault, domain, world.admin, text)
    assert named in str(refused.value)
    assert "is missing" not in str(refused.value)


def test_a_bad_pem_is_refused(world: DomainWorld) -> None:
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.CUSTOMER_KEY, world.settings)
    broken = dict(
        world.key_file, private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(services.WorkspaceError, match='"private_key" is not a readable PEM'):
        services.store_key(db.session, world.vault, domain, world.admin, json.dumps(broken))


# --- when things change later ----------------------------------------------------------------------


def test_removing_the_delegation_stops_syncs_cleanly_and_deletes_nothing(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    world.ready()
    sync = world.assign(world.taras)
    assert world.run(sync) is not None
    before = world.snapshot(TARAS)
    world.delegate([])
    # The sealed token runs out (here: GroupSync is told so), and the next one is refused.
    conn = world.connection(world.taras)
    conn.access_token_expires_at = conn.access_token_expires_at and conn.access_token_expires_at.replace(
        year=2000
    )
    db.session.commit()
    run = world.run(sync)
    assert run is not None
    assert run.outcome is not RunOutcome.OK
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    assert domain.status is DomainStatus.FAILING
    assert domain.problem is DomainProblem.DELEGATION_MISSING
    db.session.refresh(sync)
    assert sync.status is SyncStatus.NEEDS_RECONNECT
    assert world.run(sync) is None, "the gate stops the next run before any Google request"
    assert world.snapshot(TARAS) == before
    page = signed_in(world.admin).get("/admin/syncs")
    assert 'data-testid="domain-failing"' in page.text

    # The admin puts the delegation back and tests again: the stopped syncs resume on their own.
    world.delegate()
    assert services.test(db.session, world.settings, world.vault, domain, world.admin).ok
    resumed = world.run(sync)
    assert resumed is not None
    assert resumed.outcome is RunOutcome.OK


def test_a_suspended_user_stops_alone(world: DomainWorld) -> None:
    world.ready()
    sync_taras = world.assign(world.taras)
    sync_oksana = world.assign(world.oksana)
    world.ws.suspend(TARAS)
    run = world.run(sync_taras)
    assert run is not None
    assert run.outcome is not RunOutcome.OK
    connection = world.connection(world.taras)
    assert (connection.status, connection.status_reason) == (
        ConnectionStatus.NEEDS_RECONNECT,
        StatusReason.LEFT_DOMAIN,
    )
    domain = services.domain_of(db.session, world.account.id)
    assert domain is not None
    assert domain.status is DomainStatus.ACTIVE
    ok = world.run(sync_oksana)
    assert ok is not None
    assert ok.outcome is RunOutcome.OK


def test_a_member_turns_a_sync_off_and_the_admin_sees_it(
    world: DomainWorld, signed_in: Callable[[Membership], FlaskClient]
) -> None:
    world.ready()
    sync = world.assign(world.taras)
    member = signed_in(world.taras)
    page = member.get("/workspace/my")
    assert 'data-testid="domain-notice-banner"' in page.text
    ((assignment, _),) = members.my_assignments(db.session, world.taras)
    member.post(f"/workspace/my/{assignment.id}/off", data={"csrf_token": csrf_token(page.text)})
    db.session.refresh(sync)
    assert not sync.enabled
    assert "turned off by the member" in signed_in(world.admin).get("/workspace/").text
    with pytest.raises(services.WorkspaceError, match="turned this sync off"):
        world.assign(world.taras)
    assert world.run(sync) is None


def test_removing_the_key_stops_the_domain(world: DomainWorld) -> None:
    domain = world.ready()
    services.remove_key(db.session, domain, world.admin)
    assert domain.key_ciphertext is None
    result = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert result.problem is DomainProblem.NO_KEY


def test_keyless_signing_goes_through_iam_sign_jwt_with_the_runtime_identity(
    world: DomainWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installation = world.ws.create_service_account(PROJECT, "installation")
    runtime = world.ws.create_service_account("groupsync-runtime", "web-runtime")
    runtime_key = tmp_path / "runtime.json"
    runtime_key.write_text(json.dumps(world.ws.create_key(runtime["email"])))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(runtime_key))
    world.ws.add_token_creator(installation["email"], runtime["email"])
    world.ws.set_marketplace(DOMAIN, PROJECT, [CONTACTS_SCOPE])
    world.settings = world.settings.with_overrides(domain_service_account=installation["email"])
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.INSTALLATION, world.settings)
    result = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert result.ok, result
    methods = [
        e.method
        for e in db.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.account_id == world.account.id, LedgerEntry.tag == EventTag.GOOGLE_REQUEST.value
            )
        )
    ]
    assert methods[:3] == ["oauth2.token.runtime", "iamcredentials.signJwt", "oauth2.token.jwt_bearer"]


def test_the_admin_invites_only_addresses_in_the_domain(world: DomainWorld) -> None:
    domain = world.ready()
    with pytest.raises(services.WorkspaceError, match=r"not an address in acme\.example"):
        members.invite(db.session, domain, world.admin, "someone@elsewhere.example")
    members.invite(db.session, domain, world.admin, "New.Colleague@ACME.example")
    invitation = db.session.scalar(select(Invitation).where(Invitation.account_id == world.account.id))
    assert invitation is not None
    assert (invitation.email, invitation.role) == ("new.colleague@acme.example", Role.MEMBER)
    with pytest.raises(services.WorkspaceError, match="already a member"):
        members.invite(db.session, domain, world.admin, TARAS)


def test_an_installation_without_a_usable_identity_is_named_not_configured(
    world: DomainWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "authorized_user"}')
    world.settings = world.settings.with_overrides(domain_service_account_key_file=broken)
    domain = services.connect(db.session, world.admin, DOMAIN, DomainMode.INSTALLATION, world.settings)
    result = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert result.problem is DomainProblem.NOT_CONFIGURED
    assert "GROUPSYNC_DOMAIN_SERVICE_ACCOUNT_KEY_FILE cannot be used" in result.detail

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    world.settings = world.settings.with_overrides(
        domain_service_account_key_file=None,
        domain_service_account="installation@acme-groupsync.iam.gserviceaccount.com",
    )
    result = services.test(db.session, world.settings, world.vault, domain, world.admin)
    assert result.problem is DomainProblem.NOT_CONFIGURED
    assert "no Google identity" in result.detail
