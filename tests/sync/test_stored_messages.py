"""A sync's status and a run's message are stored as message ids with parameters and shown in each
reader's language, whoever's run wrote them; rows stored as plain text before still show."""

# ruff: noqa: RUF001 - Ukrainian and Russian texts beside Latin names

from __future__ import annotations

import html
import re

import pytest
from flask import Flask

from app.accounts.models import Role
from app.crm.models import ContactList
from app.extensions import N_, db, shown_message, stored_message
from app.google.models import GoogleConnection
from app.sync import services
from app.sync.models import ContactSync, RunOutcome, SyncRun, SyncStatus
from app.sync.planner import contact_limit_problem
from tests.conftest import Factory, sign_in_client


@pytest.fixture
def blocked_sync(app: Flask, factory: Factory) -> tuple[object, int]:
    account = factory.account("Acme")
    member = factory.member(account, Role.MEMBER)
    contact_list = ContactList(account_id=account.id, crm_id="list-1", name="Customers")
    connection = GoogleConnection(
        account_id=account.id, user_id=member.user_id, email="ada@gmail.example.com"
    )
    db.session.add_all([contact_list, connection])
    db.session.flush()
    detail = contact_limit_problem(24_999, 2, 0)
    assert detail is not None
    sync = ContactSync(
        account_id=account.id,
        membership_id=member.id,
        list_id=contact_list.id,
        connection_id=connection.id,
        group_name="Acme · Customers",
        status=SyncStatus.GOOGLE_CONTACT_LIMIT,
        status_detail=detail,
    )
    db.session.add(sync)
    db.session.flush()
    db.session.add_all(
        [
            SyncRun(
                sync_id=sync.id,
                trigger="schedule",
                outcome=RunOutcome.FAILED,
                message=services._ACCEPT_MESSAGE,
            ),
            # Written before messages were stored as ids: shown as it was written.
            SyncRun(
                sync_id=sync.id, trigger="schedule", outcome=RunOutcome.FAILED, message="an old plain note"
            ),
        ]
    )
    db.session.commit()
    return member, sync.id


def _page_text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize(
    ("language", "status", "run"),
    [
        (
            "uk",
            "контактів в обліковому записі Google: 24 999, цьому списку потрібно ще 2; це перевищило б ліміт "
            "Google (25 000 контактів на обліковий запис) на 1",
            "Призупинено: набула чинності нова версія політики конфіденційності",
        ),
        (
            "ru",
            "контактов в аккаунте Google: 24 999, этому списку нужно ещё 2; это превысило бы лимит "
            "Google (25 000 контактов на аккаунт) на 1",
            "Приостановлено: вступила в силу новая версия политики конфиденциальности",
        ),
        (
            "en",
            "the Google account holds 24,999 contacts and this list needs 2 more; that would pass Google's "
            "limit of 25,000 contacts per account by 1",
            "Paused: a new version of GroupSync's privacy policy",
        ),
    ],
)
def test_stored_messages_show_in_the_reader_language(
    app: Flask, blocked_sync: tuple[object, int], language: str, status: str, run: str
) -> None:
    member, sync_id = blocked_sync
    client = sign_in_client(app, member)  # type: ignore[arg-type]
    headers = {"Accept-Language": language}
    page = client.get(f"/syncs/{sync_id}", headers=headers).get_data(as_text=True)
    # CLDR groups thousands with a (narrow) no-break space in Ukrainian and Russian.
    text = _page_text(page).replace("\u202f", " ").replace("\xa0", " ")
    assert status in text
    assert run in text
    assert "an old plain note" in text
    assert '{"msgid"' not in page
    state = client.get(f"/syncs/{sync_id}/status", headers=headers).get_json()
    assert " ".join(state["message"].split()).replace("\u202f", " ") == status


def test_a_stored_message_is_english_outside_a_request_and_plain_text_passes_through() -> None:
    detail = contact_limit_problem(25_000, 1, 0)
    assert detail is not None
    assert detail.startswith('{"msgid"')
    assert shown_message(detail).startswith("the Google account holds 25000 contacts")
    assert shown_message("written before") == "written before"
    assert shown_message('{"msgid": 1}') == '{"msgid": 1}'
    # Text that only looks like one (typed into a CSV cell) never breaks the page showing it.
    crafted = '{"msgid": "%(missing)s", "params": {"other": 1}}'
    assert shown_message(crafted) == crafted
    assert shown_message(stored_message(N_("id %(problem)s"), problem=crafted)) == f"id {crafted}"
