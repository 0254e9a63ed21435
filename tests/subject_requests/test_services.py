"""Data-subject requests as services: submit, confirm, the deadline clock, reminders, overdue, answers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.config import Settings
from app.crm import services as crm_services
from app.crm.models import CrmContact
from app.db import utcnow
from app.extensions import db
from app.mail import Mailer
from app.security.audit import entries_of
from app.security.models import AuditEntry
from app.subject_requests import chores, services
from app.subject_requests.models import RequestKind, RequestState, SubjectRequest
from tests.subject_requests.conftest import Outbox, Shop

ADDRESS = "olena@people.example"


def _submit(app: Flask, mailer: Mailer, shop: Shop, kind: RequestKind, **kwargs: object) -> None:
    settings: Settings = app.config["GROUPSYNC"]
    services.submit(
        db.session,
        mailer,
        settings,
        shop.account,
        email=str(kwargs.get("email", ADDRESS)),
        kind=kind,
        details=str(kwargs.get("details", "Please act on my data")),
        language=str(kwargs.get("language", "en")),
        now=kwargs.get("now"),  # type: ignore[arg-type]
    )


def _open(app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop, kind: RequestKind) -> SubjectRequest:
    _submit(app, mailer, shop, kind)
    assert services.confirm(db.session, outbox.confirmation_token(ADDRESS)) is not None
    request = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id.desc())).first()
    assert request is not None
    return request


def _audit_text(shop: Shop) -> str:
    return json.dumps([(e.action, e.actor, e.detail) for e in entries_of(db.session, shop.account.id)])


def test_the_link_is_mailed_and_only_its_hash_is_kept(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    _submit(app, mailer, shop, RequestKind.ACCESS)

    token = outbox.confirmation_token(ADDRESS)
    request = db.session.scalars(select(SubjectRequest)).one()
    assert request.state == RequestState.UNCONFIRMED
    assert request.token_hash == services.token_hash(token)
    assert token not in json.dumps([str(v) for v in vars(request).values()])
    assert services.requests_of(db.session, shop.account.id) == []  # admins see it only once confirmed
    assert [e.action for e in entries_of(db.session, shop.account.id)] == ["data_request.received"]


def test_an_address_the_crm_does_not_know_gets_the_same_mail(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    _submit(app, mailer, shop, RequestKind.DELETION, email="stranger@nowhere.example")
    _submit(app, mailer, shop, RequestKind.DELETION)

    unknown, known = outbox.messages()
    assert unknown["Subject"] == known["Subject"]
    assert outbox.body(unknown).replace(
        outbox.confirmation_token("stranger@nowhere.example"), "T"
    ) == outbox.body(known).replace(outbox.confirmation_token(ADDRESS), "T")


def test_the_link_works_once_and_starts_thirty_days(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    start = utcnow()
    _submit(app, mailer, shop, RequestKind.ACCESS, now=start)
    token = outbox.confirmation_token(ADDRESS)

    confirmed = services.confirm(db.session, token, now=start + timedelta(hours=1))

    assert confirmed is not None
    assert confirmed.account_name == "Acme CRM"
    assert confirmed.due_at == start + timedelta(hours=1, days=30)
    assert services.confirm(db.session, token, now=start + timedelta(hours=2)) is None
    request = db.session.scalars(select(SubjectRequest)).one()
    assert request.state == RequestState.OPEN
    assert request.token_hash is None
    assert services.days_left(request, start + timedelta(hours=1)) == 30


def test_an_expired_link_confirms_nothing_and_the_chore_deletes_it(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    start = utcnow()
    _submit(app, mailer, shop, RequestKind.ACCESS, now=start)
    later = start + services.LINK_LIFETIME + timedelta(seconds=1)

    assert services.confirm(db.session, outbox.confirmation_token(ADDRESS), now=later) is None
    chores.run(db.session, app.config["GROUPSYNC"], later)
    assert db.session.scalars(select(SubjectRequest)).all() == []


def test_reminders_at_seven_days_and_one_day_then_the_operator_is_told(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    settings: Settings = app.config["GROUPSYNC"]
    request = _open(app, mailer, outbox, shop, RequestKind.DELETION)
    assert request.due_at is not None
    due = request.due_at

    chores.run(db.session, settings, due - timedelta(days=8))
    assert outbox.to("ada.admin@acme.example") == []

    chores.run(db.session, settings, due - timedelta(days=6, hours=23))
    chores.run(db.session, settings, due - timedelta(days=6))  # a second run sends nothing twice
    (week,) = outbox.to("ada.admin@acme.example")
    assert "due in 7 days or less" in outbox.body(week)
    assert ADDRESS not in outbox.body(week)

    chores.run(db.session, settings, due - timedelta(hours=20))
    assert len(outbox.to("ada.admin@acme.example")) == 2
    assert chores.overdue(db.session, due - timedelta(hours=20)) == []
    assert outbox.to(settings.operator.privacy_email) == []

    chores.run(db.session, settings, due + timedelta(hours=1))
    chores.run(db.session, settings, due + timedelta(hours=2))
    (flag,) = outbox.to(settings.operator.privacy_email)
    assert f"#{request.id}" in outbox.body(flag)
    assert ADDRESS not in outbox.body(flag)
    (late,) = chores.overdue(db.session, due + timedelta(days=3, hours=1))
    assert (late.request_id, late.account_id, late.days_overdue) == (request.id, shop.account.id, 3)
    actions = [e.action for e in entries_of(db.session, shop.account.id)]
    assert actions.count("data_request.reminded") == 2
    assert actions.count("data_request.overdue") == 1


def test_access_mails_what_the_crm_holds_and_forgets_the_address(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    request = _open(app, mailer, outbox, shop, RequestKind.ACCESS)
    assert [c.crm_id for c in services.matching_contacts(db.session, shop.account.id, request.email)] == [
        "c-olena"
    ]
    services.view(db.session, request, shop.admin.user_id)

    count = services.fulfil(db.session, mailer, request, shop.admin.user_id)

    assert count == 1
    answer = outbox.to(ADDRESS)[-1]
    body = outbox.body(answer)
    assert "Коваль" in body
    assert "c-olena" in body
    assert "other@people.example" not in body
    db.session.refresh(request)
    assert request.state == RequestState.FULFILLED
    assert (request.email, request.details) == ("", "")
    assert [e.action for e in reversed(entries_of(db.session, shop.account.id))] == [
        "data_request.received",
        "data_request.verified",
        "data_request.viewed",
        "data_request.fulfilled",
    ]
    assert "olena" not in _audit_text(shop).lower()
    assert "Please act" not in _audit_text(shop)
    with pytest.raises(services.RequestError):
        services.fulfil(db.session, mailer, request, shop.admin.user_id)


def test_deletion_erases_the_contacts_with_no_undo(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    contact = db.session.scalars(select(CrmContact).where(CrmContact.crm_id == "c-olena")).one()
    # An admin had deleted it on the page: it is still in Google during the undo window.
    crm_services.delete_with_undo(db.session, contact, f"user:{shop.admin.user_id}", timedelta(minutes=15))
    request = _open(app, mailer, outbox, shop, RequestKind.DELETION)
    assert [c.crm_id for c in services.matching_contacts(db.session, shop.account.id, request.email)] == [
        "c-olena"
    ]

    assert services.fulfil(db.session, mailer, request, shop.admin.user_id) == 1

    db.session.refresh(contact)
    assert contact.deleted
    assert contact.undo_until is None
    assert (contact.given_name, contact.family_name) == ("", "")
    assert ADDRESS not in contact.search_text
    assert not crm_services.undo_delete(db.session, contact)
    assert "deleted the contact records" in outbox.body(outbox.to(ADDRESS)[-1])
    other = db.session.scalars(select(CrmContact).where(CrmContact.crm_id == "c-other")).one()
    assert not other.deleted
    fulfilled = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "data_request.fulfilled")
    ).one()
    assert json.loads(fulfilled.detail) == {"contacts": 1, "kind": "deletion", "request_id": request.id}


def test_correction_needs_a_note_and_rejection_a_reason(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    correction = _open(app, mailer, outbox, shop, RequestKind.CORRECTION)
    with pytest.raises(services.RequestError, match="Say what was corrected"):
        services.fulfil(db.session, mailer, correction, shop.admin.user_id)
    services.fulfil(db.session, mailer, correction, shop.admin.user_id, note="Surname spelt Коваль now")
    assert "Surname spelt Коваль now" in outbox.body(outbox.to(ADDRESS)[-1])

    deletion = _open(app, mailer, outbox, shop, RequestKind.DELETION)
    with pytest.raises(services.RequestError, match="Give the reason"):
        services.reject(db.session, mailer, deletion, shop.admin.user_id, reason="  ")
    services.reject(
        db.session, mailer, deletion, shop.admin.user_id, reason="We must keep invoices for 3 years"
    )

    assert "We must keep invoices" in outbox.body(outbox.to(ADDRESS)[-1])
    db.session.refresh(deletion)
    assert deletion.state == RequestState.REJECTED
    assert deletion.email == ""
    assert not db.session.scalars(select(CrmContact).where(CrmContact.crm_id == "c-olena")).one().deleted


def test_mails_to_the_requester_are_in_the_language_of_the_page(
    app: Flask, mailer: Mailer, outbox: Outbox, shop: Shop
) -> None:
    _submit(app, mailer, shop, RequestKind.ACCESS, language="uk")
    (mail,) = outbox.to(ADDRESS)
    assert "Acme CRM" in str(mail["Subject"])
    assert "Confirm your request" not in str(mail["Subject"])
