# ruff: noqa: RUF001, RUF003 - Ukrainian and Russian texts beside Latin names
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from flask import Flask

from app.accounts.models import Role
from app.extensions import db
from app.ledger.events import EventTag
from app.ledger.models import LedgerEntry
from app.mail import sent_files
from app.privacy import disclosure, policy_change
from app.privacy.models import DisclosureAcceptance
from app.privacy.policy import DEFAULT_DIR, current_policy_version, utc_today
from tests.auth.flows import csrf_token
from tests.conftest import Factory, sign_in_client


def _accepted(member_user_id: int, account_id: int, policy: str) -> None:
    db.session.add(
        DisclosureAcceptance(
            account_id=account_id,
            user_id=member_user_id,
            version=disclosure.current().version,
            policy_version=policy,
        )
    )
    db.session.commit()


def test_a_user_paused_by_a_new_policy_reviews_accepts_and_may_sync_again(
    app: Flask, factory: Factory
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _accepted(member.user_id, account.id, "v0-older")
    assert not disclosure.has_current_acceptance(db.session(), member.user_id, account.id)

    client = sign_in_client(app, member)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'data-testid="policy-banner"' in page
    assert "your contact sync is paused" in page
    review = client.get("/privacy/review").get_data(as_text=True)
    assert f'data-version="{current_policy_version()}"' in review

    token = csrf_token(client, "/privacy/review")
    answer = client.post(
        "/privacy/review",
        data={
            "csrf_token": token,
            "disclosure_version": disclosure.current().version,
            "policy_version": current_policy_version(),
        },
    )
    assert answer.status_code == 302
    assert disclosure.has_current_acceptance(db.session(), member.user_id, account.id)
    assert 'data-testid="policy-banner"' not in client.get("/dashboard").get_data(as_text=True)


def test_a_user_who_never_accepted_sees_no_policy_banner(app: Flask, factory: Factory) -> None:
    member = factory.member(factory.account(), Role.MEMBER)
    assert 'data-testid="policy-banner"' not in sign_in_client(app, member).get("/dashboard").get_data(
        as_text=True
    )


@pytest.fixture
def later_version(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped policy as v1 plus a v2 in force ten days from now, announced 30 days ahead."""
    shipped = (DEFAULT_DIR / f"{current_policy_version()}.md").read_text()
    (tmp_path / "v1.md").write_text(shipped)
    effective = utc_today() + timedelta(days=10)
    (tmp_path / "v2.md").write_text(re.sub(r"Effective: \S+", f"Effective: {effective}", shipped))
    settings = app.config["GROUPSYNC"].with_overrides(
        privacy_policy_dir=tmp_path,
        policy_notice_days=30,
        mail_transport=f"file:{tmp_path / 'outbox'}",
    )
    monkeypatch.setitem(app.config, "GROUPSYNC", settings)
    return str(effective)


def test_upcoming_policy_is_announced_by_banner_and_one_email_and_may_be_accepted_early(
    app: Flask, factory: Factory, later_version: str, tmp_path: Path
) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER, email="carol@example.com")
    _accepted(member.user_id, account.id, "v1")
    settings = app.config["GROUPSYNC"]
    assert current_policy_version() == "v1"

    client = sign_in_client(app, member)
    page = client.get("/dashboard").get_data(as_text=True)
    # Pages show the date in the reader's language ("Jan 25, 2027" in English).
    shown = format_date(date.fromisoformat(later_version), "medium", locale="en")
    assert f"privacy policy changes on {shown}" in page

    assert policy_change.notify_upcoming(db.session(), settings=settings) == [(member.user_id, "sent")]
    assert policy_change.notify_upcoming(db.session(), settings=settings) == []
    (mail,) = sent_files(tmp_path / "outbox")
    text = mail.as_string()
    assert "To: carol@example.com" in text
    body = " ".join(mail.get_body().get_content().split())  # type: ignore[union-attr]
    assert f"takes effect on {format_date(date.fromisoformat(later_version), 'long', locale='en')}" in body
    assert "/privacy/review" in text
    tags = db.session.scalars(sa.select(LedgerEntry.tag).where(LedgerEntry.user_id == member.user_id)).all()
    assert EventTag.POLICY_NOTICE_SENT.value in tags

    token = csrf_token(client, "/privacy/review")
    client.post(
        "/privacy/review",
        data={
            "csrf_token": token,
            "disclosure_version": disclosure.current().version,
            "policy_version": "v2",
        },
    )
    assert 'data-testid="policy-banner"' not in client.get("/dashboard").get_data(as_text=True)
    # Once v2 is in force the early acceptance is what the sync gate finds.
    early = db.session.scalars(
        sa.select(DisclosureAcceptance.policy_version).where(DisclosureAcceptance.user_id == member.user_id)
    ).all()
    assert sorted(early) == ["v1", "v2"]


def test_no_notice_before_the_notice_date(app: Flask, factory: Factory, later_version: str) -> None:
    account = factory.account()
    member = factory.member(account, Role.MEMBER)
    _accepted(member.user_id, account.id, "v1")
    settings = app.config["GROUPSYNC"].with_overrides(policy_notice_days=5)
    assert policy_change.notify_upcoming(db.session(), settings=settings) == []
    assert (
        policy_change.status_for(db.session(), member.user_id, account.id, settings=settings).upcoming is None
    )


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        (None, "GroupSync privacy policy v3 from January 5, 2027", "takes effect on January 5, 2027"),
        (
            "uk",
            "Політика конфіденційності GroupSync v3 з 5 січня 2027 р.",
            "набуває чинності 5 січня 2027 р.",
        ),
        (
            "ru",
            "Политика конфиденциальности GroupSync v3 с 5 января 2027 г.",
            "вступает в силу 5 января 2027 г.",
        ),
    ],
)
def test_the_policy_notice_is_mailed_in_the_user_language(
    app: Flask, factory: Factory, language: str | None, subject: str, sentence: str
) -> None:
    from app.privacy.policy import load

    member = factory.member(factory.account(), Role.MEMBER)
    member.user.language = language
    with app.test_request_context(headers={"Accept-Language": "en"}):
        mail = policy_change.notice_mail(member.user, load(DEFAULT_DIR, 3), app.config["GROUPSYNC"])
    # CLDR puts a no-break space before "р."/"г."; split() treats it as a space.
    assert " ".join(mail.subject.split()) == subject
    assert sentence in " ".join(mail.body.split())
    assert "/privacy/review" in mail.body
