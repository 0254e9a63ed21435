# ruff: noqa: RUF001 - Ukrainian and Russian texts beside Latin names
"""Address and hours rules applied to the web pages and the CRM API; changing them safely."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.accounts.models import Membership, Role
from app.crm import services as crm_services
from app.db import utcnow
from app.extensions import db
from app.security.audit import AuditAction, entries_of
from app.security.models import SecurityPolicy
from tests.conftest import Factory, sign_in_client
from tests.security.helpers import code_at, enrol, post

SignIn = Callable[[Membership], FlaskClient]


def _rules(account_id: int, **rules: str) -> None:
    row = SecurityPolicy(
        account_id=account_id,
        second_factor="off",
        idle_minutes=720,
        absolute_hours=336,
        time_zone=rules.pop("time_zone", "UTC"),
        web_networks="",
        api_networks="",
        web_hours="",
        api_hours="",
    )
    for name, value in rules.items():
        setattr(row, name, value)
    db.session.add(row)
    db.session.commit()


def test_a_web_request_from_outside_the_ranges_gets_a_page_naming_the_rule(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _rules(account.id, web_networks="10.0.0.0/8\n2001:db8::/32")
    client = signed_in(member)
    page = client.get("/dashboard")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert 'data-rule="address_not_allowed"' in text
    assert "your address 127.0.0.1 is not one of them" in text
    answer = client.get("/dashboard", headers={"Accept": "application/json"})
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "address_not_allowed"
    entry = entries_of(db.session, account.id)[0]
    assert entry.action == AuditAction.ACCESS_REFUSED
    assert entry.detail == '{"address":"127.0.0.1","channel":"web","rule":"address_not_allowed"}'


@pytest.mark.parametrize(
    ("language", "refusal"),
    [
        ("uk", "Цей обліковий запис дозволяє вебсторінки лише з певних мережевих адрес, і ваша"),
        ("ru", "Этот аккаунт разрешает веб-страницы только с определённых сетевых адресов, и ваш"),
    ],
)
def test_the_refusal_is_in_the_reader_language(
    factory: Factory, signed_in: SignIn, language: str, refusal: str
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    member.user.language = language
    db.session.commit()
    _rules(account.id, web_networks="10.0.0.0/8")
    client = signed_in(member)
    text = client.get("/dashboard").get_data(as_text=True)
    assert refusal in text
    answer = client.get("/dashboard", headers={"Accept": "application/json"}).get_json()
    assert answer["error"]["message"].startswith(refusal)


def test_the_api_rules_are_separate_from_the_web_rules(
    factory: Factory, signed_in: SignIn, client: FlaskClient
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _rules(account.id, api_networks="10.0.0.0/8", web_networks="127.0.0.0/8")
    _, secret = crm_services.create_api_key(db.session(), account.id, "Zapier", None)
    assert signed_in(member).get("/dashboard").status_code == 200
    api = db.session.get_one(SecurityPolicy, account.id)
    answer = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "address_not_allowed"
    assert "the CRM API" in answer.get_json()["error"]["message"]
    api.api_networks = "127.0.0.1"
    db.session.commit()
    answer = client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    refusals = [e for e in entries_of(db.session, account.id) if e.action == AuditAction.ACCESS_REFUSED]
    assert len(refusals) == 1
    assert '"channel":"api"' in refusals[0].detail


def test_an_unknown_api_key_still_gets_the_apis_own_401(factory: Factory, client: FlaskClient) -> None:
    _rules(factory.account().id, api_networks="10.0.0.0/8")
    answer = client.get("/api/v1/contacts", headers={"Authorization": "Bearer gsk_nope"})
    assert answer.status_code == 401


def test_hours_outside_the_window_are_refused(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    now = utcnow()
    start, end = now + timedelta(hours=1), now + timedelta(hours=2)
    _rules(account.id, web_hours=f"{start:%H:%M}-{end:%H:%M}")
    answer = signed_in(member).get("/dashboard", headers={"Accept": "application/json"})
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "outside_allowed_hours"


def _form(**values: str) -> dict[str, str]:
    base = {
        "time_zone": "Europe/Kyiv",
        "web_networks": "",
        "web_hours": "",
        "api_networks": "",
        "api_hours": "",
    }
    return {**base, **values}


def test_changing_the_rules_needs_a_second_factor_code(factory: Factory, signed_in: SignIn) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    post(client, "/security/admin/access", _form(api_networks="10.0.0.0/8", code="123456"), "/security/admin")
    assert "Set up a second factor for yourself" in client.get("/security/admin").get_data(as_text=True)
    secret, _ = enrol(client)
    post(client, "/security/admin/access", _form(api_networks="10.0.0.0/8", code="000000"), "/security/admin")
    assert "code from your authenticator app is missing or not right" in client.get(
        "/security/admin"
    ).get_data(as_text=True)
    assert db.session.get(SecurityPolicy, account.id) is None
    code = code_at(secret, utcnow())
    post(client, "/security/admin/access", _form(api_networks="10.0.0.0/8", code=code), "/security/admin")
    policy = db.session.get(SecurityPolicy, account.id)
    assert policy is not None
    assert (policy.api_networks, policy.time_zone) == ("10.0.0.0/8", "Europe/Kyiv")
    entry = entries_of(db.session, account.id)[0]
    assert entry.action == AuditAction.ACCESS_RULES_CHANGED
    assert '"api_networks_to":"10.0.0.0/8"' in entry.detail


def test_every_bad_field_is_named_at_once(factory: Factory, signed_in: SignIn) -> None:
    admin = factory.member(factory.account(), Role.ADMIN)
    client = signed_in(admin)
    enrol(client)
    form = _form(web_networks="300.1.1.1", api_hours="late", time_zone="Nowhere/City", code="123456")
    post(client, "/security/admin/access", form, "/security/admin")
    page = client.get("/security/admin").get_data(as_text=True)
    assert "Addresses allowed for the web pages: &#39;300.1.1.1&#39; is not" in page
    assert "Hours allowed for the CRM API: write the allowed hours as HH:MM-HH:MM" in page
    assert "&#39;Nowhere/City&#39; is not a known time zone" in page


def test_rules_that_would_lock_out_the_admin_making_them_are_refused(
    factory: Factory, signed_in: SignIn
) -> None:
    account = factory.account()
    admin = factory.member(account, Role.ADMIN)
    client = signed_in(admin)
    secret, _ = enrol(client)
    form = _form(web_networks="10.0.0.0/8", code=code_at(secret, utcnow()))
    post(client, "/security/admin/access", form, "/security/admin")
    page = client.get("/security/admin").get_data(as_text=True)
    assert "would lock you out: your current address 127.0.0.1 is not in them" in page
    assert db.session.get(SecurityPolicy, account.id) is None
    assert client.get("/dashboard").status_code == 200
    form = _form(web_networks="10.0.0.0/8\n127.0.0.1", code=code_at(secret, utcnow() + timedelta(seconds=30)))
    post(client, "/security/admin/access", form, "/security/admin")
    assert db.session.get_one(SecurityPolicy, account.id).web_networks == "10.0.0.0/8\n127.0.0.1"
    assert client.get("/dashboard").status_code == 200


@pytest.fixture
def proxied(base_app: Flask) -> Flask:
    """The same database behind one reverse proxy (GROUPSYNC_PROXY_HOPS=1)."""
    return create_app(base_app.config["GROUPSYNC"].with_overrides(proxy_hops=1))


def test_behind_the_configured_proxy_the_forwarded_address_is_the_one_checked(
    app: Flask, proxied: Flask, factory: Factory
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _rules(account.id, web_networks="203.0.113.0/24")
    direct = sign_in_client(app, member)
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert direct.get("/dashboard", headers=forwarded).status_code == 403, (
        "no proxy configured: header ignored"
    )
    with proxied.app_context():
        through_proxy = sign_in_client(proxied, member)
        assert through_proxy.get("/dashboard", headers=forwarded).status_code == 200
        spoofed = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
        assert through_proxy.get("/dashboard", headers=spoofed).status_code == 403
    assert db.session.scalars(select(SecurityPolicy)).one()
