"""The public request page and link, and the admins' pages: no hint of which addresses the CRM holds."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Role
from app.crm.models import CrmContact
from app.extensions import db
from app.security.audit import entries_of
from app.subject_requests.models import RequestState, SubjectRequest
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client
from tests.subject_requests.conftest import Outbox, Shop

_CSRF = re.compile(r'value="[\w-]+\.[\w-]+\.[\w-]+"')


def _page(shop: Shop) -> str:
    return f"/data-requests/{shop.account.request_slug}"


def _ask(client: FlaskClient, page: str, email: str, kind: str = "deletion", **extra: str) -> object:
    data = {
        "csrf_token": csrf_token(client, page),
        "email": email,
        "kind": kind,
        "details": "Remove me",
        **extra,
    }
    return client.post(page, data=data)


def test_the_page_and_its_answer_never_say_whether_the_crm_knows_the_address(
    app: Flask, outbox: Outbox, shop: Shop
) -> None:
    page = _page(shop)
    answers = []
    for email in ("olena@people.example", "nobody@nowhere.example"):
        client = app.test_client()
        form = client.get(page)
        assert form.status_code == 200
        assert 'data-testid="data-request-form"' in form.text
        sent = _ask(client, page, email)
        assert sent.status_code == 302
        assert sent.headers["Location"] == f"{page}/sent"
        answers.append(client.get(sent.headers["Location"]).text)
    # Each visitor's page carries its own CSRF token; apart from that the answers are one text.
    assert _CSRF.sub("", answers[0]) == _CSRF.sub("", answers[1])
    assert len(outbox.messages()) == 2
    assert app.test_client().get("/data-requests/not-a-page").status_code == 404


def test_a_bad_form_says_what_is_wrong_and_sends_nothing(app: Flask, outbox: Outbox, shop: Shop) -> None:
    client = app.test_client()
    page = _page(shop)

    bad = _ask(client, page, "not an address", kind="everything")

    assert bad.status_code == 400
    assert "That is not an e-mail address." in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert outbox.messages() == []
    no_token = client.post(page, data={"email": "a@b.example", "kind": "access"})
    assert no_token.status_code == 400
    assert outbox.messages() == []


def test_sending_is_rate_limited_per_address(app: Flask, outbox: Outbox, shop: Shop) -> None:
    client = app.test_client()
    page = _page(shop)
    limit = app.config["GROUPSYNC"].data_requests_per_hour_per_address
    for n in range(limit):
        assert _ask(client, page, f"p{n}@people.example").status_code == 302
    refused = _ask(client, page, "one.more@people.example")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert client.get(page).status_code == 200  # reading the page is not limited
    assert len(outbox.messages()) == limit


def test_opening_the_link_confirms_nothing_until_the_button_is_pressed(
    app: Flask, outbox: Outbox, shop: Shop
) -> None:
    client = app.test_client()
    _ask(client, _page(shop), "olena@people.example")
    link = f"/data-requests/confirm/{outbox.confirmation_token('olena@people.example')}"

    shown = client.get(link)
    assert 'data-testid="confirm-data-request"' in shown.text
    assert db.session.scalars(select(SubjectRequest)).one().state == RequestState.UNCONFIRMED

    confirmed = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert confirmed.status_code == 200
    assert 'data-testid="data-request-confirmed"' in confirmed.text
    again = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert again.status_code == 410
    assert 'data-testid="data-request-link-dead"' in again.text


def test_admins_see_the_request_with_its_deadline_and_answer_it(
    app: Flask, outbox: Outbox, shop: Shop, factory: Factory
) -> None:
    public = app.test_client()
    _ask(public, _page(shop), "OLENA@people.example")
    link = f"/data-requests/confirm/{outbox.confirmation_token('OLENA@people.example')}"
    public.post(link, data={"csrf_token": csrf_token(public, link)})
    request = db.session.scalars(select(SubjectRequest)).one()
    admin = sign_in_client(app, shop.admin)

    listing = admin.get("/admin/data-requests")
    assert listing.status_code == 200
    assert _page(shop) in listing.text
    assert f'data-testid="data-request-{request.id}"' in listing.text
    detail = admin.get(f"/admin/data-requests/{request.id}")
    assert 'data-testid="request-days-left"' in detail.text
    assert "30 days left" in detail.text
    assert "c-olena" in detail.text
    assert "c-other" not in detail.text
    assert 'class="danger" data-testid="fulfil-request"' in detail.text

    answered = admin.post(
        f"/admin/data-requests/{request.id}/fulfil",
        data={"csrf_token": csrf_token(admin, "/admin/data-requests")},
    )
    assert answered.status_code == 302
    assert answered.headers["Location"] == f"/admin/data-requests/{request.id}"
    after = admin.get(answered.headers["Location"])
    assert "olena@people.example" not in after.text.lower()
    assert db.session.scalars(select(CrmContact).where(CrmContact.crm_id == "c-olena")).one().deleted
    assert "data_request.viewed" in [e.action for e in entries_of(db.session, shop.account.id)]
    member = sign_in_client(app, factory.member(shop.account, Role.MEMBER))
    assert member.get(f"/admin/data-requests/{request.id}").status_code == 403


def test_the_public_page_speaks_the_visitors_language(app: Flask, shop: Shop) -> None:
    page = app.test_client().get(_page(shop), headers={"Accept-Language": "uk"})
    assert "Надіслати запит" in page.text
