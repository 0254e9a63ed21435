"""People's own rights: rectification, restriction of processing, the age condition, and the policy texts."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Membership, Role, User
from app.crm.models import ContactList, ListAccess
from app.db import utcnow
from app.extensions import db
from app.google.endpoints import CONTACTS_SCOPE
from app.google.models import ConnectionStatus, GoogleConnection
from app.ledger.models import LedgerEntry
from app.privacy.models import PausedSync
from app.privacy.policy import current_policy
from app.security.models import RecoveryCode
from app.sync.models import ContactSync
from groupsync_emulator.hooks import HooksClient
from tests.auth.flows import answer_at_google, csrf_token
from tests.conftest import Factory
from tests.security.helpers import enrol, post

SignIn = Callable[[Membership], FlaskClient]


def test_a_chosen_name_and_notice_address_are_saved_and_checked(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    post(client, "/privacy/profile", {"name": "  ", "notice_email": "not an address"}, "/privacy/profile")
    page = client.get("/privacy/profile").get_data(as_text=True)
    assert "Name must be 1 to 200 characters." in page
    assert "E-mail for notices is not valid" in page
    post(
        client,
        "/privacy/profile",
        {"name": "Olena  K.", "notice_email": "olena@example.com"},
        "/privacy/profile",
    )
    user = db.session.get_one(User, member.user_id)
    db.session.refresh(user)
    assert (user.name, user.notice_email, user.name_chosen) == ("Olena K.", "olena@example.com", True)
    assert "Olena K." in client.get("/dashboard").get_data(as_text=True)


def test_a_refused_profile_says_why_in_the_reader_language(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    user = db.session.get_one(User, member.user_id)
    user.language = "uk"
    db.session.commit()
    client = signed_in(member)
    post(client, "/privacy/profile", {"name": " ", "notice_email": "olena@"}, "/privacy/profile")
    page = client.get("/privacy/profile").get_data(as_text=True)
    assert "Ім&#39;я має містити від 1 до 200 символів." in page
    assert "Некоректна електронна пошта для сповіщень: після знака @ бракує домену" in page
    assert "There must be something after the @-sign" not in page


def _sync(member: Membership, *, usable: bool) -> ContactSync:
    contact_list = ContactList(account_id=member.account_id, crm_id=f"l-{member.id}", name="Clients")
    connection = GoogleConnection(
        account_id=member.account_id,
        user_id=member.user_id,
        email="me@gmail.example.com",
        status=ConnectionStatus.CONNECTED,
        granted_scopes=CONTACTS_SCOPE,
        refresh_token_ciphertext=b"sealed" if usable else None,
    )
    db.session.add_all([contact_list, connection])
    db.session.flush()
    db.session.add(ListAccess(list_id=contact_list.id, membership_id=member.id, granted_by="system"))
    sync = ContactSync(
        account_id=member.account_id,
        membership_id=member.id,
        list_id=contact_list.id,
        connection_id=connection.id,
        group_name="Clients",
        enabled=True,
    )
    db.session.add(sync)
    db.session.commit()
    return sync


def test_restricting_pauses_every_sync_and_lifting_resumes_them(factory: Factory, signed_in: SignIn) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    sync = _sync(member, usable=True)
    client = signed_in(member)
    post(client, "/privacy/restriction", {"restrict": "on"}, "/privacy/profile")
    db.session.expire_all()
    assert db.session.get_one(ContactSync, sync.id).enabled is False
    assert db.session.get_one(User, member.user_id).processing_restricted_at is not None
    assert "1 sync paused. Nothing was deleted." in client.get("/privacy/profile").get_data(as_text=True)
    assert db.session.scalars(select(PausedSync.sync_id)).all() == [sync.id]
    disabled = db.session.scalars(select(LedgerEntry).where(LedgerEntry.tag == "sync.disabled")).all()
    assert len(disabled) == 1
    post(client, "/privacy/restriction", {"restrict": "off"}, "/privacy/profile")
    db.session.expire_all()
    assert db.session.get_one(ContactSync, sync.id).enabled is True
    assert db.session.get_one(User, member.user_id).processing_restricted_at is None
    assert db.session.scalars(select(PausedSync)).all() == []


def test_a_sync_that_may_no_longer_run_stays_off_when_the_restriction_ends(
    factory: Factory, signed_in: SignIn
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    sync = _sync(member, usable=False)
    client = signed_in(member)
    post(client, "/privacy/restriction", {"restrict": "on"}, "/privacy/profile")
    post(client, "/privacy/restriction", {"restrict": "off"}, "/privacy/profile")
    db.session.expire_all()
    assert db.session.get_one(ContactSync, sync.id).enabled is False
    assert "1 could not run any more" in client.get("/privacy/profile").get_data(as_text=True)


def test_the_age_refusal_is_in_the_visitor_language(client: FlaskClient, google: HooksClient) -> None:
    headers = {"Accept-Language": "uk"}
    started = client.post("/sign-in", data={"csrf_token": csrf_token(client), "next": ""}, headers=headers)
    callback = answer_at_google(google, started.headers["Location"], "ada.lovelace@example.com")
    client.get(callback, headers=headers)
    page = client.get("/sign-in", headers=headers).get_data(as_text=True)
    assert "GroupSync призначено для людей віком від 16 років." in page
    assert "aged 16 or older" not in page


def test_a_new_person_must_confirm_being_16_or_older(client: FlaskClient, google: HooksClient) -> None:
    started = client.post("/sign-in", data={"csrf_token": csrf_token(client), "next": ""})
    callback = answer_at_google(google, started.headers["Location"], "ada.lovelace@example.com")
    answer = client.get(callback)
    assert answer.headers["Location"] == "/sign-in"
    assert "GroupSync is for people aged 16 or older" in client.get("/sign-in").get_data(as_text=True)
    assert db.session.scalars(select(User)).all() == []
    outcome = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
    assert outcome is not None
    assert outcome.outcome == "refused_age_not_confirmed"
    data = {"csrf_token": csrf_token(client), "next": "", "age_confirmed": "yes"}
    started = client.post("/sign-in", data=data)
    assert client.get(answer_at_google(google, started.headers["Location"])).status_code == 302
    user = db.session.scalars(select(User)).one()
    assert user.age_confirmed_at is not None
    assert user.age_confirmed_at <= utcnow()


def test_a_known_person_signs_in_without_the_box(client: FlaskClient, google: HooksClient) -> None:
    data = {"csrf_token": csrf_token(client), "next": "", "age_confirmed": "yes"}
    client.get(answer_at_google(google, client.post("/sign-in", data=data).headers["Location"]))
    assert client.post("/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")}).status_code == 302
    started = client.post("/sign-in", data={"csrf_token": csrf_token(client), "next": ""})
    answer = client.get(answer_at_google(google, started.headers["Location"]))
    assert answer.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_the_policy_states_every_right_how_to_use_it_the_complaint_and_the_age_condition(app: object) -> None:
    text = " ".join(current_policy().markdown.split())
    for phrase in (
        "right of access",
        "Download my data",
        "right to rectification",
        "Your profile",
        "right to erasure",
        "Delete my data",
        "right to restrict processing",
        "Pause all my syncs",
        "right to withdraw consent",
        "Disconnect",
        "right to data portability",
        "right to object",
        "lodge a complaint with a supervisory authority",
        "16 or older",
        "second factor",
        "audit log",
    ):
        assert phrase in text, f"the policy does not say {phrase!r}"


def test_the_export_holds_the_second_factor_state_but_no_secret_or_code_hash(
    factory: Factory, signed_in: SignIn
) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    client = signed_in(member)
    secret, codes = enrol(client)
    exported = post(client, "/privacy/my-data/export", page="/privacy/my-data")
    assert exported.status_code == 200
    text = exported.get_data(as_text=True)
    assert "security_second_factor" in text
    hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(hashes) == 10
    for forbidden in (secret, *codes, *hashes):
        assert forbidden not in text
