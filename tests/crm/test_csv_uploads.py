"""Staged CSV uploads: abandoned ones are purged, fresh ones and one being imported are not."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.crm.csv_import import UPLOAD_LIFETIME, purge_stale_uploads, run_upload
from app.crm.models import CrmContact, CsvUpload
from app.db import utcnow
from app.extensions import db
from tests.conftest import Factory


def staged(account_id: int, filename: str, created_at: datetime) -> int:
    upload = CsvUpload(
        account_id=account_id,
        filename=filename,
        list_name="Imported",
        content=b"id,given_name\nc1,Ann\n",
        created_at=created_at,
    )
    db.session.add(upload)
    db.session.commit()
    return upload.id


def filenames() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(CsvUpload.filename)))


def test_uploads_not_imported_within_their_lifetime_are_purged(app: Flask, factory: Factory) -> None:
    ours, theirs = factory.account(), factory.account()
    now = utcnow()
    staged(ours.id, "abandoned.csv", now - UPLOAD_LIFETIME - timedelta(minutes=1))
    staged(theirs.id, "also-abandoned.csv", now - timedelta(days=30))
    staged(ours.id, "fresh.csv", now - UPLOAD_LIFETIME + timedelta(minutes=1))

    assert purge_stale_uploads(db.session, now) == 2

    assert filenames() == {"fresh.csv"}
    assert purge_stale_uploads(db.session, now) == 0


def test_an_upload_being_imported_is_left_to_its_import(app: Flask, factory: Factory) -> None:
    account = factory.account()
    long_ago = utcnow() - UPLOAD_LIFETIME - timedelta(hours=1)
    importing = staged(account.id, "importing.csv", long_ago)
    staged(account.id, "abandoned.csv", long_ago)
    engine = db.engine
    purged: list[int] = []
    purges: list[threading.Thread] = []
    waited_for_import: list[bool] = []

    def purge() -> None:
        with Session(engine) as other:
            purged.append(purge_stale_uploads(other, utcnow()))

    def purge_once_the_import_claimed_its_upload(session: Session, context: Any) -> None:
        purges.append(threading.Thread(target=purge))
        purges[0].start()
        purges[0].join(0.5)
        waited_for_import.append(purges[0].is_alive())

    with Session(engine) as importer:
        upload = importer.get(CsvUpload, importing)
        assert upload is not None
        event.listen(importer, "after_flush", purge_once_the_import_claimed_its_upload, once=True)
        report = run_upload(importer, upload, ["id", "given_name"])
    purges[0].join(30)

    assert waited_for_import == [True], "the purge did not wait for the import holding the upload"
    assert [r.status for r in report.rows] == ["created"]
    assert purged == [1]
    # The imported upload keeps its report (not its content) for a day after the import.
    assert filenames() == {"importing.csv"}
    assert db.session.scalar(sa.select(CrmContact.given_name)) == "Ann"
