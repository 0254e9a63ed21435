"""Building and tampering with real ledger rows in tests."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.ledger.events import DataCategory, Destination, EventTag, Flow, FlowKind, Purpose, Trigger
from app.ledger.models import LEDGER_GUARD_SQLITE_DDL, LedgerEntry
from app.ledger.services import entry_fields, record
from app.ledger.verify import pair_requests


def flow(account_id: int | None = 1, **changes: Any) -> Flow:
    """A flow for chain mechanics; not a Google request, whose entries come in write-ahead pairs."""
    values: dict[str, Any] = {
        "tag": EventTag.DATA_EXPORTED,
        "account_id": account_id,
        "kind": FlowKind.READ,
        "purpose": Purpose.CONTACT_SYNC,
        "trigger": Trigger.SCHEDULE,
        "actor": "system",
        "outcome": "200",
        "destination": Destination.GROUPSYNC_STORE,
        "user_id": 7,
        "google_account": "google-sub-123",
        "method": "people.connections.list",
        "records": 3,
        "categories": frozenset({DataCategory.NAMES, DataCategory.EMAIL_ADDRESSES}),
    }
    values.update(changes)
    return Flow(**values)


def fill(
    account_id: int | None, count: int, now: datetime | None = None, **changes: Any
) -> list[LedgerEntry]:
    entries = [record(db.session, flow(account_id, **changes), now=now) for _ in range(count)]
    db.session.commit()
    return entries


@contextmanager
def tampering() -> Iterator[sa.Connection]:
    """A connection that may rewrite the ledger: the insert-only triggers are off inside it."""
    with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("ALTER TABLE ledger_entry DISABLE TRIGGER USER"))
        else:
            conn.execute(sa.text("DROP TRIGGER ledger_entry_insert_only"))
        yield conn
        if postgres:
            conn.execute(sa.text("ALTER TABLE ledger_entry ENABLE TRIGGER USER"))
        else:
            conn.execute(sa.text(LEDGER_GUARD_SQLITE_DDL))


def request_outcomes(entries: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    """``entries`` without write-ahead entries, once each request in them is checked to start and end."""
    pairing = pair_requests(entry_fields(e) for e in entries)
    assert (pairing.unfinished, pairing.orphaned, pairing.mismatched) == ([], [], []), pairing
    return [e for e in entries if e.tag != EventTag.GOOGLE_REQUEST_STARTED]


def give_reason(client: FlaskClient, path: str, reason: str = "security") -> None:
    """Answer a guarded page's reason form (recording the human view), as a person would."""
    page = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert {"csrf_token", "view", "next"} <= set(fields), f"{path} shows no reason form"
    answered = client.post("/ledger/human-view", data={**fields, "reason": reason})
    assert answered.status_code == 302, answered.get_data(as_text=True)
