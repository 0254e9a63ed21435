"""Every route, every role, another tenant's ids: who may call what, and nothing crosses tenants.

The routes come from the application's URL map, so a new route joins the matrix by itself.
URL arguments are filled from :data:`BROWSER_ARGUMENTS` / :data:`API_ARGUMENTS`, which build a
row of a given account and return the value for the URL; a route with an argument neither
registry knows fails here until someone teaches the registry how to make one.

Another tenant ("Zeta") gets rows whose every text carries :data:`MARKER`; no response to a
user or API key of the first tenant may contain it, and no request of theirs may change any
row outside their own account.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from app import create_app
from app.accounts.models import Account, Invitation, LoginSession, Membership, Role, User
from app.crm import services as crm_services
from app.crm.models import ContactList, CrmContact, CsvUpload
from app.extensions import db
from app.google.domain_models import DomainAssignment, DomainConnection, DomainMode
from app.google.models import GoogleConnection
from app.ledger.human_view import guarded_view
from app.sync.models import ContactSync
from tests.auth.flows import csrf_token
from tests.conftest import make_settings, sign_in_client

PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "web.index",
        # The language switcher: anonymous visitors choose a language too (kept in their session).
        "web.choose_language",
        "web.favicon",
        "auth.sign_in",
        "auth.start",
        "auth.callback",
        "auth.choose_account",
        "auth.enter_account",
        "auth.sign_out",
        "privacy.policy",
        "privacy.archived",
        "crm.api.openapi",
        "ops.healthz",
        "ops.readyz",
        "ops.prometheus_metrics",
        # Data-subject requests: people in a CRM who have no GroupSync sign-in ask here (the
        # account's random page slug, a single-use e-mailed link; the form is rate-limited).
        "subject_requests.request_form",
        "subject_requests.sent",
        "subject_requests.confirm_page",
        "subject_requests.confirm",
        # A deletion receipt lives in the asker's session cookie only; they are signed out by then.
        "privacy.deletion_receipt",
        "privacy.download_receipt",
        # The public key that lets anyone check a signed deletion receipt.
        "privacy.receipt_key",
    }
)
"""The only routes anyone may call without signing in: the place to list a new public page."""

GOOGLE_DATA_SHOWN_TO_OTHERS = {
    "sync.admin_overview": "every member's sync health, with what Google answered",
    "sync.admin_contacts": "a member's sync, contact by contact, with what Google answered",
    "ledger.browse": "ledger entries naming the users whose Google data flowed",
    "ledger.summary": "flows and deletions per user",
    "ledger.export_csv": "ledger entries naming users",
    "ledger.export_ndjson": "ledger entries naming users",
    "ledger.download_pack": "an account's ledger slice, naming users",
}
"""Pages showing Google-derived data to someone other than its user: each must be wrapped in
``app.ledger.human_view.requires_view_reason`` (the viewer's reason is recorded first)."""

REASON_IN_THE_FORM = {
    "privacy.export_member_data": "a POST whose form carries the reason; rights.export records it",
}
"""Downloads of another person's Google-derived data that take the reason in their own form."""

NO_GOOGLE_DATA_FOR_OTHERS = {
    "web.settings": "the signed-in user's own language and time zone",
    "web.save_settings": "an action on the user's own settings",
    "accounts.invite": "an action",
    "accounts.withdraw_invitation": "an action",
    "accounts.members": "members' names and addresses as the account knows them; nothing from Google's APIs",
    "accounts.remove_member": "an action",
    "accounts.change_role": "an action",
    "accounts.unfreeze": "an action: an admin unfreezes the account (or withdraws the warning)",
    "crm.overview": "CRM data",
    "crm.contact_deleted": "the CRM contact and its undo receipt",
    "crm.api_keys": "CRM API keys",
    "crm.create_api_key": "an action",
    "crm.revoke_api_key": "an action",
    "crm.contacts": "CRM data",
    "crm.delete_contact": "an action on CRM data",
    "crm.undo_delete_contact": "an action on CRM data",
    "crm.import_report": "CRM data: the outcome of a CSV import",
    "crm.import_form": "CRM data",
    "crm.upload": "an action on CRM data",
    "crm.run_import": "an action on CRM data",
    "crm.create_list": "an action on CRM data",
    "crm.grant": "an action on CRM data",
    "crm.withdraw": "an action on CRM data",
    "crm.rename_list": "an action on CRM data",
    "crm.save_settings": "an action on CRM settings",
    "worker.failed_jobs": "job failures by sync id, errors redacted; no Google user data",
    "sync.confirm_mass_delete": "an action",
    "web.dashboard": "the viewer's own",
    "google.connection": "the viewer's own Google connection",
    "google.callback": "the viewer's own Google connection",
    "google.connect": "the viewer's own Google connection",
    "google.disclosure_page": "the disclosure text",
    "google.disconnect": "the viewer's own Google connection",
    "ledger.packs": "the account's pack requests: no user's data",
    "ledger.request_pack": "an action (the download is guarded)",
    "ledger.human_view": "records the reason",
    "privacy.member_data": "the member's address and the forms; the download asks its reason",
    "privacy.delete_member_data": "an action",
    "privacy.my_data": "the viewer's own",
    "privacy.delete_my_data": "the viewer's own",
    "privacy.export_my_data": "the viewer's own",
    "privacy.my_profile": "the viewer's own",
    "privacy.update_my_profile": "the viewer's own",
    "privacy.restrict_processing": "the viewer's own",
    "security.verify": "the viewer's own second factor",
    "security.verify_code": "the viewer's own second factor",
    "security.enrol": "the viewer's own second factor",
    "security.enrol_start": "the viewer's own second factor",
    "security.enrol_confirm": "the viewer's own second factor",
    "security.passkey_options": "the viewer's own passkeys (a ceremony's options)",
    "security.passkey_register": "the viewer's own passkeys",
    "security.passkey_sign_in": "the viewer's own second factor",
    "security.passkey_remove": "the viewer's own passkeys",
    "security.overview": "the viewer's own sign-ins and second factor",
    "security.renew_codes": "the viewer's own recovery codes",
    "security.end_session": "the viewer's own sign-ins",
    "security.end_all_sessions": "the viewer's own sign-ins",
    "security.admin": "the account's security rules and members' sign-ins; nothing from Google's APIs",
    "security.update_policy": "an action on the account's security rules",
    "security.update_access_rules": "an action on the account's security rules",
    "security.reset_factor": "an action",
    "security.audit_log": "account actions (who changed what in GroupSync); nothing from Google's APIs",
    "privacy.review": "the policy and disclosure texts",
    "privacy.accept_review": "the viewer's own acceptance",
    "privacy.dismiss_notice": "the viewer's own notice",
    "sync.overview": "the viewer's own syncs",
    "sync.turn_on": "the viewer's own syncs",
    "sync.detail": "the viewer's own sync",
    "sync.stop_contact": "the viewer's own sync",
    "sync.turn_off": "the viewer's own sync",
    "sync.recreate_group": "the viewer's own sync",
    "sync.run_now": "the viewer's own sync",
    "sync.status": "the viewer's own sync",
    "sync.contacts": "the viewer's own sync",
    "workspace.setup": (
        "the domain's set-up and Google's answer to the domain's token requests; per member only "
        "the address, the list and the sync's state word, no contact data"
    ),
    "workspace.connect": "an action",
    "workspace.upload_key": "an action",
    "workspace.remove_key": "an action",
    "workspace.accept_statement": "an action",
    "workspace.test": "an action (the test's People read is dropped unseen)",
    "workspace.assign": "an action",
    "workspace.invite": "an action",
    "workspace.mine": "the viewer's own assignments",
    "workspace.turn_off": "the viewer's own assignment",
    "workspace.turn_on": "the viewer's own assignment",
    "workspace.dismiss_banner": "the viewer's own notice",
    "subject_requests.admin_list": "data-subject requests: CRM data, nothing from Google's APIs",
    "subject_requests.admin_detail": "a data-subject request and the CRM contacts with its address",
    "subject_requests.fulfil": "an action on CRM data (sends the requester their CRM data)",
    "subject_requests.reject": "an action on a data-subject request",
}
"""Every other signed-in page, and why it shows no Google-derived data to anyone but its user."""

API_ENDPOINT_PREFIX = "crm.api."
"""The CRM-facing API authenticates with an account's API key instead of a browser session."""

MARKER = "zeta7781"
ROLES = (Role.ADMIN, Role.MEMBER, Role.REVIEWER)
_serial = count(1)

Maker = Callable[[Account, str], object]
"""Builds a row of ``account`` whose texts contain the label, and returns the URL argument."""


def _member(account: Account, label: str) -> int:
    n = next(_serial)
    user = User(
        google_sub=f"{label}-sub-{n}", email=f"{label}-{n}@people.example.com", name=f"{label} Person {n}"
    )
    membership = Membership(account=account, user=user, role=Role.MEMBER)
    db.session.add_all([user, membership])
    db.session.commit()
    return membership.id


def _invitation(account: Account, label: str) -> int:
    invitation = Invitation(
        account_id=account.id, email=f"{label}-invited-{next(_serial)}@people.example.com", role=Role.MEMBER
    )
    db.session.add(invitation)
    db.session.commit()
    return invitation.id


def _contact(account: Account, label: str) -> CrmContact:
    n = next(_serial)
    contact = CrmContact(
        account_id=account.id,
        crm_id=f"contact-{n}",
        given_name=f"{label} Given",
        family_name=f"{label} Family",
        company=f"{label} Company",
        emails=[{"value": f"{label}.contact{n}@people.example.com", "type": "work"}],
    )
    db.session.add(contact)
    db.session.commit()
    return contact


def _list(account: Account, label: str) -> ContactList:
    contact_list = ContactList(account_id=account.id, crm_id=f"list-{next(_serial)}", name=f"{label} List")
    db.session.add(contact_list)
    db.session.commit()
    return contact_list


def _api_key(account: Account, label: str) -> int:
    key, _ = crm_services.create_api_key(db.session(), account.id, f"{label} key", None)
    return key.id


def _upload(account: Account, label: str) -> int:
    upload = CsvUpload(
        account_id=account.id,
        filename=f"{label}.csv",
        list_name=f"{label} Imported",
        content=f"given_name\n{label}\n".encode(),
    )
    db.session.add(upload)
    db.session.commit()
    return upload.id


def _sync(account: Account, label: str) -> int:
    membership = db.session.get_one(Membership, _member(account, label))
    connection = GoogleConnection(
        account_id=account.id, user_id=membership.user_id, email=f"{label}@gmail.example.com"
    )
    db.session.add(connection)
    db.session.flush()
    sync = ContactSync(
        account_id=account.id,
        membership_id=membership.id,
        list_id=_list(account, label).id,
        connection_id=connection.id,
        group_name=f"{label} Group",
    )
    db.session.add(sync)
    db.session.commit()
    return sync.id


def _login_session(account: Account, label: str) -> int:
    login = LoginSession(
        token_hash=f"{label}-{next(_serial)}".ljust(64, "0"), membership_id=_member(account, label)
    )
    db.session.add(login)
    db.session.commit()
    return login.id


def _assignment(account: Account, label: str) -> int:
    membership = db.session.get_one(Membership, _member(account, label))
    domain = db.session.scalar(sa.select(DomainConnection).where(DomainConnection.account_id == account.id))
    if domain is None:
        domain = DomainConnection(
            account_id=account.id, domain=f"{label.lower()}.example", mode=DomainMode.CUSTOMER_KEY
        )
        db.session.add(domain)
        db.session.flush()
    assignment = DomainAssignment(
        account_id=account.id,
        domain_connection_id=domain.id,
        membership_id=membership.id,
        list_id=_list(account, label).id,
    )
    db.session.add(assignment)
    db.session.commit()
    return assignment.id


def _pack(account: Account, label: str) -> int:
    from app.ledger.models import EvidencePackRequest, PackState

    made = EvidencePackRequest(account_id=account.id, state=PackState.DONE, content=label.encode())
    db.session.add(made)
    db.session.commit()
    return made.id


def _data_request(account: Account, label: str) -> int:
    from app.subject_requests.models import RequestState, SubjectRequest

    made = SubjectRequest(
        account_id=account.id,
        kind="access",
        state=RequestState.OPEN.value,
        email=f"{label}.person@people.example.com",
        details=f"{label} details",
        verified_at=datetime.now(UTC),
        due_at=datetime.now(UTC) + timedelta(days=30),
    )
    db.session.add(made)
    db.session.commit()
    return made.id


def _confirmation_token(account: Account, label: str) -> str:
    from app.subject_requests.models import RequestState, SubjectRequest
    from app.subject_requests.services import LINK_LIFETIME, token_hash

    token = f"{label}-link-{next(_serial)}"
    made = SubjectRequest(
        account_id=account.id,
        kind="access",
        state=RequestState.UNCONFIRMED.value,
        email=f"{label}.asker@people.example.com",
        token_hash=token_hash(token),
        token_expires_at=datetime.now(UTC) + LINK_LIFETIME,
    )
    db.session.add(made)
    db.session.commit()
    return token


def _passkey(account: Account, label: str) -> int:
    from app.security.models import Passkey

    passkey = Passkey(
        membership_id=_member(account, label),
        name=f"{label} passkey",
        credential_id=f"{label}-credential-{next(_serial)}".encode(),
        public_key=b"not checked here",
    )
    db.session.add(passkey)
    db.session.commit()
    return passkey.id


def _notice(account: Account, label: str) -> int:
    from app.privacy.models import UserNotice

    membership = db.session.get_one(Membership, _member(account, label))
    notice = UserNotice(user_id=membership.user_id, kind="incident", subject=f"{label} notice", body=label)
    db.session.add(notice)
    db.session.commit()
    return notice.id


BROWSER_ARGUMENTS: dict[str, Maker] = {
    "session_id": _login_session,
    "notice_id": _notice,
    "pack_id": _pack,
    "membership_id": _member,
    "invitation_id": _invitation,
    "list_id": lambda account, label: _list(account, label).id,
    "contact_id": lambda account, label: _contact(account, label).id,
    "key_id": _api_key,
    "upload_id": _upload,
    "sync_id": _sync,
    "crm_id": lambda account, label: _contact(account, label).crm_id,
    "assignment_id": _assignment,
    "request_id": _data_request,
    "slug": lambda account, label: account.request_slug,
    "token": _confirmation_token,
    "passkey_id": _passkey,
}
API_ARGUMENTS: dict[str, Maker] = {
    "crm_id": lambda account, label: _contact(account, label).crm_id,
    "list_id": lambda account, label: _list(account, label).crm_id,
    "membership_id": _member,
    "invitation_id": _invitation,
    "key_id": _api_key,
}


def _matrix_app() -> Flask:
    instance = Path(tempfile.mkdtemp(prefix="route-matrix-"))
    return create_app(make_settings(f"sqlite:///{instance / 'routes.sqlite3'}", instance))


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    method: str
    arguments: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.endpoint.startswith(API_ENDPOINT_PREFIX)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def _routes(rules: Iterable[Rule]) -> list[Route]:
    return [
        Route(rule.rule, rule.endpoint, method, tuple(sorted(rule.arguments)))
        for rule in rules
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


URL_MAP_APP = _matrix_app()
ALL_ROUTES = _routes(URL_MAP_APP.url_map.iter_rules())
ROUTES = [r for r in ALL_ROUTES if r.endpoint not in PUBLIC_ENDPOINTS]


@dataclass
class World:
    own: Account
    other: Account
    clients: dict[Role, FlaskClient]
    api_secret: str


@pytest.fixture
def world(app: Flask) -> World:
    return make_world(app)


def make_world(app: Flask) -> World:
    """Two tenants, a signed-in client per role of the first, and an API key of the first."""
    own = Account(name="Own Tenant")
    other = Account(name=f"{MARKER.title()} Holdings")
    db.session.add_all([own, other])
    db.session.commit()
    clients = {}
    for role in ROLES:
        membership = Membership(
            account=own,
            user=User(
                google_sub=f"own-{role.value}", email=f"own-{role.value}@own.example.com", name=role.value
            ),
            role=role,
        )
        db.session.add(membership)
        db.session.commit()
        clients[role] = sign_in_client(app, membership)
    _, api_secret = crm_services.create_api_key(db.session(), own.id, "own key", None)
    for role in ROLES:
        other_member = Membership(
            account=other,
            user=User(
                google_sub=f"{MARKER}-{role.value}",
                email=f"{MARKER}-{role.value}@people.example.com",
                name=f"{MARKER} {role.value}",
            ),
            role=role,
        )
        db.session.add(other_member)
        db.session.commit()
        sign_in_client(app, other_member)
    return World(own, other, clients, api_secret)


def fill_url(route: Route, account: Account, label: str) -> str:
    registry = API_ARGUMENTS if route.is_api else BROWSER_ARGUMENTS
    unknown = [name for name in route.arguments if name not in registry]
    if unknown:
        pytest.fail(
            f"{route} has URL argument(s) {unknown} that the route matrix cannot fill: add a maker to "
            f"{'API_ARGUMENTS' if route.is_api else 'BROWSER_ARGUMENTS'} in tests/test_route_matrix.py"
        )
    url = route.rule
    for name in route.arguments:
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(registry[name](account, label)), url)
    return url


def rows_outside(account_id: int | None, skip_tables: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Every row of every table except those of account ``account_id``, in a stable text form.

    ``last_seen_at`` of sign-in sessions changes on every request by design and is left out.
    """
    dump = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in skip_tables:
                continue
            columns = [
                c for c in table.columns if not (table.name == "login_session" and c.name == "last_seen_at")
            ]
            statement = sa.select(*columns)
            if account_id is not None and "account_id" in table.columns:
                statement = statement.where(
                    sa.or_(table.c.account_id.is_(None), table.c.account_id != account_id)
                )
            if account_id is not None and table.name == "ledger_head":
                statement = statement.where(table.c.chain != f"account:{account_id}")
            if account_id is not None and table.name == "account_audit_head":
                statement = statement.where(table.c.chain != f"audit:{account_id}")
            for row in conn.execute(statement):
                dump.append((table.name, json.dumps([str(v) for v in row])))
    return sorted(dump)


def _call(client: FlaskClient, route: Route, url: str, *, api_secret: str | None = None) -> TestResponse:
    if route.is_api:
        headers = {"Authorization": f"Bearer {api_secret}"} if api_secret else {}
        body: Any = {"name": "x", "contact_ids": []} if route.method in {"PUT", "POST"} else None
        return client.open(url, method=route.method, json=body, headers=headers)
    data: dict[str, str] = {}
    if route.method != "GET":
        signed_in = client.get("/dashboard").status_code == 200
        data["csrf_token"] = csrf_token(client, "/dashboard" if signed_in else "/sign-in")
    return client.open(url, method=route.method, data=data or None)


def _assert_no_leak(response: TestResponse, who: str, route: Route) -> None:
    parts = [response.get_data()]
    if response.mimetype == "application/zip":
        with zipfile.ZipFile(io.BytesIO(parts[0])) as archive:
            parts = [archive.read(name) for name in archive.namelist()]
    for part in parts:
        assert MARKER.encode() not in part.lower(), f"{route} as {who} showed another tenant's data"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_is_guarded(route: Route, app: Flask, world: World) -> None:
    view = app.view_functions[route.endpoint]
    if not route.is_api:
        assert hasattr(view, "required_roles"), (
            f"{route} ({route.endpoint}) is neither in PUBLIC_ENDPOINTS nor wrapped by tenancy.require_role"
        )
    own_url = fill_url(route, world.own, "own")
    other_url = fill_url(route, world.other, MARKER)

    anonymous = _call(app.test_client(), route, own_url)
    if route.is_api:
        assert anonymous.status_code == 401, (
            f"{route} answered an anonymous caller with {anonymous.status_code}"
        )
    else:
        assert anonymous.status_code in {302, 401}, f"{route} answered anonymous with {anonymous.status_code}"
        if anonymous.status_code == 302:
            assert anonymous.headers["Location"].startswith("/sign-in"), anonymous.headers["Location"]

    if route.is_api:
        _check_api(route, app, world, own_url, other_url)
        return
    allowed = view.required_roles
    for role in ROLES:
        response = _call(world.clients[role], route, own_url)
        _assert_no_leak(response, role.value, route)
        if role in allowed:
            assert response.status_code < 500, f"{route} as {role.value}: {response.status_code}"
        else:
            assert response.status_code == 403, f"{route} let a {role.value} in ({response.status_code})"

    if not route.arguments:
        return
    before = rows_outside(world.own.id)
    for role in ROLES:
        response = _call(world.clients[role], route, other_url)
        assert response.status_code in {403, 404}, (
            f"{route} as {role.value} with another tenant's id answered {response.status_code}"
        )
        _assert_no_leak(response, role.value, route)
    assert rows_outside(world.own.id) == before, f"{route} changed rows outside the caller's account"


def _check_api(route: Route, app: Flask, world: World, own_url: str, other_url: str) -> None:
    client = app.test_client()
    _assert_no_leak(_call(client, route, own_url, api_secret=world.api_secret), "API key", route)
    if not route.arguments:
        return
    before = rows_outside(world.own.id)
    response = _call(client, route, other_url, api_secret=world.api_secret)
    # CRM ids are the CRM's own and per account: a PUT of an id another tenant also uses
    # creates or updates the caller's row of that id, never the other tenant's.
    if not (route.method == "PUT" and response.status_code in {200, 201}):
        assert response.status_code in {400, 403, 404, 422}, (
            f"{route} with another tenant's id answered {response.status_code}"
        )
    _assert_no_leak(response, "API key", route)
    assert rows_outside(world.own.id) == before, f"{route} changed rows outside the caller's account"


def test_matrix_covers_the_whole_url_map() -> None:
    endpoints = {rule.endpoint for rule in URL_MAP_APP.url_map.iter_rules()}
    assert endpoints >= PUBLIC_ENDPOINTS, (
        f"public endpoints that no longer exist: {PUBLIC_ENDPOINTS - endpoints}"
    )
    assert {r.endpoint for r in ROUTES} | PUBLIC_ENDPOINTS == endpoints
    assert any(r.arguments for r in ROUTES)


BROWSER_ROUTES = [r for r in ROUTES if not r.is_api]


def test_every_page_is_classified_for_human_views_of_google_data() -> None:
    """A new page must say whether it shows Google-derived data to someone other than its user."""
    classes = (GOOGLE_DATA_SHOWN_TO_OTHERS, REASON_IN_THE_FORM, NO_GOOGLE_DATA_FOR_OTHERS)
    for route in BROWSER_ROUTES:
        homes = [c for c in classes if route.endpoint in c]
        assert len(homes) == 1, (
            f"{route} ({route.endpoint}) must be in exactly one of GOOGLE_DATA_SHOWN_TO_OTHERS, "
            "REASON_IN_THE_FORM and NO_GOOGLE_DATA_FOR_OTHERS in tests/test_route_matrix.py"
        )
    stale = {e for c in classes for e in c} - {r.endpoint for r in BROWSER_ROUTES}
    assert not stale, f"classified endpoints that no longer exist: {stale}"


@pytest.mark.parametrize(
    "route", [r for r in BROWSER_ROUTES if r.endpoint in GOOGLE_DATA_SHOWN_TO_OTHERS], ids=str
)
def test_google_data_shown_to_others_asks_for_a_recorded_reason(
    route: Route, app: Flask, world: World
) -> None:
    view = app.view_functions[route.endpoint]
    assert guarded_view(view) is not None, (
        f"{route} shows Google-derived data to others but is not wrapped in requires_view_reason"
    )
    assert route.method == "GET"
    for role in view.required_roles:
        response = _call(world.clients[role], route, fill_url(route, world.own, "own"))
        assert response.status_code == 200, f"{route} as {role.value}: {response.status_code}"
        assert b'data-testid="human-view-form"' in response.get_data(), (
            f"{route} showed its data to a {role.value} before asking why"
        )


@pytest.mark.parametrize("endpoint", sorted(REASON_IN_THE_FORM))
def test_downloads_of_another_persons_data_refuse_without_a_reason(
    endpoint: str, app: Flask, world: World
) -> None:
    [route] = [r for r in BROWSER_ROUTES if r.endpoint == endpoint]
    client = world.clients[Role.ADMIN]
    response = _call(client, route, fill_url(route, world.own, "own"))
    assert response.status_code == 400, f"{route} without a reason answered {response.status_code}"
