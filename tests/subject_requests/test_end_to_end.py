"""A person in the CRM asks for deletion on the public page, confirms by the mailed link, an admin
fulfils it, and the next sync removes them from the member's Google group (the emulator)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import Membership, Role
from app.contact_fields import TypedValue
from app.extensions import db
from app.subject_requests.models import SubjectRequest
from groupsync_emulator.hooks import HooksClient
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client
from tests.subject_requests.conftest import Outbox
from tests.sync.engine import World, person


@pytest.fixture
def world(
    app: Flask, google: HooksClient, factory: Factory, signed_in: Callable[[Membership], FlaskClient]
) -> World:
    return World(app, google, factory, signed_in)


def test_a_deletion_request_removes_the_person_from_the_members_google_group(
    app: Flask, world: World, factory: Factory, outbox: Outbox
) -> None:
    world.upsert(
        person("c-olena", "Олена", emails=(TypedValue("olena@people.example", "home"),)),
        person("c-petro", "Петро", emails=(TypedValue("petro@people.example", "work"),)),
    )
    world.run()
    world.assert_mirrors({"c-olena": "Олена", "c-petro": "Петро"})
    admin = factory.member(world.account, Role.ADMIN, email="ada.admin@acme.example")

    # The person, signed in nowhere, asks on the account's public page.
    public = app.test_client()
    page = f"/data-requests/{world.account.request_slug}"
    sent = public.post(
        page,
        data={
            "csrf_token": csrf_token(public, page),
            "email": "Olena@People.example",
            "kind": "deletion",
            "details": "Please delete everything about me.",
        },
    )
    assert sent.status_code == 302
    link = f"/data-requests/confirm/{outbox.confirmation_token('Olena@People.example')}"
    assert public.post(link, data={"csrf_token": csrf_token(public, link)}).status_code == 200

    # The admin sees it, with the matching contact, and fulfils it.
    request = db.session.query(SubjectRequest).one()
    client = sign_in_client(app, admin)
    assert f'data-testid="data-request-{request.id}"' in client.get("/admin/data-requests").text
    detail = client.get(f"/admin/data-requests/{request.id}").text
    assert "c-olena" in detail
    assert "c-petro" not in detail
    fulfilled = client.post(
        f"/admin/data-requests/{request.id}/fulfil",
        data={"csrf_token": csrf_token(client, "/admin/data-requests")},
    )
    assert fulfilled.status_code == 302

    # No undo window: the very next sync takes the person out of the member's group.
    world.run()
    world.assert_mirrors({"c-petro": "Петро"})
    answer = outbox.to("Olena@People.example")[-1]
    assert "deleted the contact records" in outbox.body(answer)
