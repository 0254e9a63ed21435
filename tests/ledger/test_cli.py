# ruff: noqa: RUF001 - Ukrainian and Russian texts beside Latin names
from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.accounts.models import Role
from app.db import utcnow
from app.extensions import db
from app.ledger.events import EventTag, FlowKind
from app.ledger.models import LedgerEntry
from app.ledger.signing import Signer, load_public_key, public_pem, signature_valid
from app.ledger.verify import CHECKPOINT_SIGNED_FIELDS
from app.mail import sent_files
from tests.conftest import Factory, sign_in_client
from tests.ledger.helpers import fill, tampering


def _run(app: Flask, *args: str) -> tuple[int, str]:
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["ledger", *args])
    return result.exit_code, result.output


def _published_key(app: Flask, tmp_path: Path) -> Path:
    """The ledger key's public half, as GroupSync would publish it."""
    path = tmp_path / "published.pem"
    path.write_text(public_pem(Signer.for_settings(app.config["GROUPSYNC"]).public_key))
    return path


def test_verify_gives_three_verdicts_then_names_the_edited_entry(app: Flask, tmp_path: Path) -> None:
    fill(1, 3)
    code, output = _run(app, "verify")
    assert code == 2, output
    assert output.startswith("INTEGRITY ONLY: database ledger: 1 chains, 3 entries")
    assert _run(app, "verify", "--integrity-only")[0] == 0
    key = _published_key(app, tmp_path)
    code, output = _run(app, "verify", "--public-key", str(key))
    assert code == 1, "a pinned key with no checkpoint at all is a failure"
    assert "no checkpoint signed by a trusted key covers any of this chain" in output
    _run(app, "checkpoint")
    code, output = _run(app, "verify", "--public-key", str(key))
    assert code == 0, output
    assert output.startswith("VERIFIED: database ledger: 1 chains, 3 entries, 1 checkpoints")
    signer_id = Signer.for_settings(app.config["GROUPSYNC"]).key_id
    assert _run(app, "verify", "--key-id", signer_id.upper())[0] == 0
    fill(1, 1)
    code, output = _run(app, "verify", "--public-key", str(key))
    assert code == 2, "a live ledger's tail after the newest checkpoint is not yet vouched for"
    assert "not trusted: chain account:1 seq 4..4 has no trusted checkpoint" in output
    with tampering() as conn:
        conn.execute(sa.text("UPDATE ledger_entry SET method = 'people.deleteContact' WHERE seq = 2"))
    code, output = _run(app, "verify")
    assert code == 1
    assert "PROBLEM chain account:1 seq 2: content does not match its hash (entry edited)" in output


def test_checkpoint_signs_heads_and_exports_outside_the_database(app: Flask, tmp_path: Path) -> None:
    fill(1, 2)
    fill(None, 1, user_id=None)
    code, output = _run(app, "checkpoint", "--export", str(tmp_path))
    assert code == 0, output
    assert "2 checkpoint(s) signed" in output
    [exported] = tmp_path.glob("ledger-checkpoints-*.jsonl")
    [key_file] = tmp_path.glob("ledger-public-key-*.pem")
    key = load_public_key(key_file.read_bytes())
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert {(c["chain"], c["seq"]) for c in lines} == {("account:1", 2), ("installation", 1)}
    for line in lines:
        assert signature_valid(key, {f: line[f] for f in CHECKPOINT_SIGNED_FIELDS}, line["signature"])
    code, output = _run(app, "checkpoint")
    assert "0 checkpoint(s) signed" in output


def test_verify_pins_a_public_key(app: Flask, tmp_path: Path) -> None:
    fill(1, 1)
    _run(app, "checkpoint")
    stranger = Signer.for_settings(app.config["GROUPSYNC"].with_overrides(instance_path=tmp_path))
    (tmp_path / "other.pem").write_text(public_pem(stranger.public_key))
    code, output = _run(app, "verify", "--public-key", str(tmp_path / "other.pem"))
    assert code == 1
    assert "no checkpoint signed by a trusted key covers any of this chain" in output


def test_pack_then_verify_pack_offline(app: Flask, tmp_path: Path) -> None:
    fill(1, 3)
    out = tmp_path / "pack.zip"
    code, output = _run(app, "pack", "--account", "1", "--out", str(out))
    assert code == 0, output
    code, output = _run(app, "verify", "--pack", str(out))
    assert code == 2, output
    assert output.startswith("INTEGRITY ONLY: evidence pack pack.zip: 1 chains, 3 entries, 1 checkpoints")
    code, output = _run(app, "verify", "--pack", str(out), "--public-key", str(_published_key(app, tmp_path)))
    assert code == 0, output
    assert output.startswith("VERIFIED: evidence pack pack.zip")
    out.write_bytes(out.read_bytes().replace(b"manifest", b"manifesto"))
    code, output = _run(app, "verify", "--pack", str(out))
    assert code != 0


def test_incident_lists_accounts_and_users_in_window(app: Flask, factory: Factory) -> None:
    account = factory.account("Acme")
    inside = factory.member(account, Role.MEMBER, email="alice@acme.test")
    outside = factory.member(account, Role.MEMBER, email="bob@acme.test")
    now = utcnow()
    fill(account.id, 2, now=now - timedelta(days=2), user_id=inside.user_id)
    fill(account.id, 1, now=now - timedelta(days=20), user_id=outside.user_id)
    fill(
        account.id,
        1,
        now=now - timedelta(days=2),
        user_id=outside.user_id,
        tag=EventTag.SYNC_ENABLED,
        kind=FlowKind.LIFECYCLE,
        categories=frozenset(),
        records=0,
    )
    start = (now - timedelta(days=5)).date().isoformat()
    code, output = _run(app, "incident", "--from", start, "--to", now.date().isoformat())
    assert code == 0, output
    assert f"{account.id}\tAcme\t{inside.user_id}\talice@acme.test\t2\t" in output
    assert "bob@acme.test" not in output
    assert "1 account/user pair(s)" in output


def test_incident_rejects_bad_window_naming_the_option(app: Flask) -> None:
    code, output = _run(app, "incident", "--from", "yesterday", "--to", "2026-01-01")
    assert code == 2
    assert "--from" in output
    assert "date (YYYY-MM-DD)" in output


def test_purge_uses_retention_setting_and_records_it(app: Flask) -> None:
    days = app.config["GROUPSYNC"].retention_ledger_days
    fill(1, 2, now=utcnow() - timedelta(days=days + 1))
    fill(1, 1)
    code, output = _run(app, "purge")
    assert code == 0, output
    assert "account:1\tpurged 2 entries through seq 2" in output
    tags = db.session.scalars(sa.select(LedgerEntry.tag).order_by(LedgerEntry.seq)).all()
    assert tags == [EventTag.DATA_EXPORTED.value, EventTag.RETENTION_PURGED.value]
    assert _run(app, "verify", "--integrity-only")[0] == 0


@pytest.fixture
def outbox(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Mail goes to files in this folder, for the incident notices' tests to read."""
    folder = tmp_path / "outbox"
    settings = app.config["GROUPSYNC"]
    monkeypatch.setitem(app.config, "GROUPSYNC", settings.with_overrides(mail_transport=f"file:{folder}"))
    return folder


def test_incident_notify_mails_each_user_records_it_and_shows_a_notice(
    app: Flask, factory: Factory, outbox: Path
) -> None:
    from tests.auth.flows import csrf_token

    account = factory.account("Acme")
    inside = factory.member(account, Role.MEMBER, email="alice@acme.test")
    outside = factory.member(account, Role.MEMBER, email="bob@acme.test")
    now = utcnow()
    fill(account.id, 2, now=now - timedelta(days=2), user_id=inside.user_id)
    fill(account.id, 1, now=now - timedelta(days=20), user_id=outside.user_id)
    window = ["--from", (now - timedelta(days=5)).date().isoformat(), "--to", now.date().isoformat()]

    code, output = _run(app, "incident", *window, "--notify")
    assert code == 2
    assert "--what" in output

    code, output = _run(app, "incident", *window, "--notify", "--what", "A backup copy was stolen.")
    assert code == 0, output
    assert f"{account.id}\t{inside.user_id}\tsent" in output
    assert "1 user(s) notified" in output
    mails = sent_files(outbox)
    assert len(mails) == 1
    text = mails[0].as_string()
    assert "To: alice@acme.test" in text
    assert "A backup copy was stolen." in text
    assert f"Period: from {(now - timedelta(days=5)).date()} 00:00" in text
    assert "Data involved:" in text
    assert "What to do:" in text
    assert app.config["GROUPSYNC"].operator.legal_name in text
    assert app.config["GROUPSYNC"].operator.privacy_email in text
    entries = db.session.scalars(
        sa.select(LedgerEntry).where(LedgerEntry.tag == EventTag.INCIDENT_NOTIFIED.value)
    ).all()
    assert [(e.account_id, e.user_id, json.loads(e.detail)["email"]) for e in entries] == [
        (account.id, inside.user_id, "sent")
    ]
    assert "alice@acme.test" not in entries[0].detail
    assert _run(app, "verify", "--integrity-only")[0] == 0

    # Running it again notifies nobody twice.
    code, output = _run(app, "incident", *window, "--notify", "--what", "A backup copy was stolen.")
    assert code == 0, output
    assert f"{inside.user_id}\tskipped" in output
    assert len(sent_files(outbox)) == 1

    # The user sees the notice at their next page view until they dismiss it.
    client = sign_in_client(app, inside)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'data-testid="user-notice"' in page
    assert "A backup copy was stolen." in page
    notice_id = int(page.split("/privacy/notices/")[1].split("/")[0])
    token = csrf_token(client, "/dashboard")
    dismissed = client.post(f"/privacy/notices/{notice_id}/dismiss", data={"csrf_token": token})
    assert dismissed.status_code == 302
    assert 'data-testid="user-notice"' not in client.get("/dashboard").get_data(as_text=True)
    other = sign_in_client(app, outside).get("/dashboard").get_data(as_text=True)
    assert 'data-testid="user-notice"' not in other


def test_the_incident_mail_and_notice_follow_the_reader_language(
    app: Flask, factory: Factory, outbox: Path
) -> None:

    account = factory.account("Acme")
    reader = factory.member(account, Role.MEMBER, email="olena@acme.test")
    reader.user.language = "uk"
    db.session.commit()
    now = utcnow()
    fill(account.id, 2, now=now - timedelta(days=2), user_id=reader.user_id)
    window = ["--from", (now - timedelta(days=5)).date().isoformat(), "--to", now.date().isoformat()]
    code, output = _run(app, "incident", *window, "--notify", "--what", "A backup copy was stolen.")
    assert code == 0, output
    (mail,) = sent_files(outbox)
    assert mail["Subject"] == "Інцидент безпеки: дані про вас у GroupSync"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "Що сталося: A backup copy was stolen." in body  # the operator's words as written
    assert "Перевірте контакти у своїй групі GroupSync" in body  # the default advice, translated

    # The notice is stored as message ids: it reads in whatever language the user now chooses.
    reader.user.language = "ru"
    db.session.commit()
    page = sign_in_client(app, reader).get("/dashboard").get_data(as_text=True)
    assert "Инцидент безопасности: данные о вас в GroupSync" in page
    assert "Что произошло: A backup copy was stolen." in page
    assert '{"msgid"' not in page


def test_the_operator_words_are_shown_in_each_reader_language_they_were_given_in(
    app: Flask, factory: Factory, outbox: Path
) -> None:

    account = factory.account("Acme")
    olena = factory.member(account, Role.MEMBER, email="olena@acme.test")
    olena.user.language = "uk"
    ada = factory.member(account, Role.MEMBER, email="ada@acme.test")
    db.session.commit()
    now = utcnow()
    for member in (olena, ada):
        fill(account.id, 1, now=now - timedelta(days=2), user_id=member.user_id)
    window = ["--from", (now - timedelta(days=5)).date().isoformat(), "--to", now.date().isoformat()]

    code, output = _run(app, "incident", *window, "--notify", "--what-uk", "Викрадено резервну копію.")
    assert code == 2
    assert "--what too" in output
    assert sent_files(outbox) == []

    code, output = _run(
        app,
        "incident",
        *window,
        "--notify",
        "--what",
        "A backup copy was stolen.",
        "--what-uk",
        "Викрадено резервну копію.",
        "--what-ru",
        "Похищена резервная копия.",
        "--advice",
        "Change your Google password.",
        "--advice-uk",
        "Змініть пароль Google.",
    )
    assert code == 0, output
    assert "without --advice-ru" in output
    bodies = {mail["To"]: mail.get_body().get_content() for mail in sent_files(outbox)}  # type: ignore[union-attr]
    assert "Що сталося: Викрадено резервну копію." in bodies["olena@acme.test"]
    assert "Що робити: Змініть пароль Google." in bodies["olena@acme.test"]
    assert "What happened: A backup copy was stolen." in bodies["ada@acme.test"]
    assert "What to do: Change your Google password." in bodies["ada@acme.test"]

    # The stored notice keeps every version: a reader who switches to Russian gets the Russian one,
    # and the English advice where the operator gave no Russian advice.
    olena.user.language = "ru"
    db.session.commit()
    page = html.unescape(sign_in_client(app, olena).get("/dashboard").get_data(as_text=True))
    assert "Что произошло: Похищена резервная копия." in page
    assert "Что делать: Change your Google password." in page
    assert "Викрадено" not in page
