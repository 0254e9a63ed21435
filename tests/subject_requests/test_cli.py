"""``groupsync requests overdue`` and ``link``: the operator's listing names no requester."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.mail import Mailer
from app.subject_requests import services
from app.subject_requests.models import RequestKind, SubjectRequest
from tests.subject_requests.conftest import Outbox, Shop


def test_overdue_lists_late_open_requests_only_without_the_address(
    app: Flask, outbox: Outbox, shop: Shop
) -> None:
    mailer = Mailer.for_settings(app.config["GROUPSYNC"])
    for email in ("olena@people.example", "other@people.example"):
        services.submit(
            db.session,
            mailer,
            app.config["GROUPSYNC"],
            shop.account,
            email=email,
            kind=RequestKind.DELETION,
            details="",
            language="en",
        )
        services.confirm(db.session, outbox.confirmation_token(email))
    late, _on_time = db.session.scalars(select(SubjectRequest).order_by(SubjectRequest.id)).all()
    late.due_at = utcnow() - timedelta(days=2, hours=1)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["requests", "overdue"])

    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    row = json.loads(line)
    assert (row["request_id"], row["account_id"], row["kind"], row["days_overdue"]) == (
        late.id,
        shop.account.id,
        "deletion",
        2,
    )
    assert "olena" not in result.output


def test_link_prints_the_accounts_public_page(app: Flask, shop: Shop) -> None:
    result = app.test_cli_runner().invoke(args=["requests", "link", "--account", str(shop.account.id)])
    assert result.exit_code == 0, result.output
    slug = shop.account.request_slug
    assert result.output.strip() == f"{app.config['GROUPSYNC'].public_url}/data-requests/{slug}"
    missing = app.test_cli_runner().invoke(args=["requests", "link", "--account", "999999"])
    assert missing.exit_code != 0
    assert "--account: no account has the id 999999" in missing.output
