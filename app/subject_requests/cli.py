"""``groupsync requests ...``: the operator's view of data-subject requests."""

from __future__ import annotations

import json

import click
from flask import current_app

from app.accounts.models import Account
from app.config import Settings
from app.db import utcnow
from app.extensions import db
from app.subject_requests import chores


@click.group("requests")
def requests_group() -> None:
    """Requests from people in the CRM (access, correction, deletion)."""


@requests_group.command("overdue")
def overdue_command() -> None:
    """Every open request past its 30-day deadline, one JSON object a line (no requester's details)."""
    for row in chores.overdue(db.session, utcnow()):
        click.echo(
            json.dumps(
                {
                    "account_id": row.account_id,
                    "account": row.account_name,
                    "request_id": row.request_id,
                    "kind": row.kind,
                    "due_at": row.due_at.isoformat(),
                    "days_overdue": row.days_overdue,
                },
                ensure_ascii=False,
            )
        )


@requests_group.command("link")
@click.option("--account", "account_id", type=int, required=True, help="Id of the account.")
def link_command(account_id: int) -> None:
    """The address of the account's public request page."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise click.ClickException(f"--account: no account has the id {account_id}")
    settings: Settings = current_app.config["GROUPSYNC"]
    click.echo(f"{settings.public_url}/data-requests/{account.request_slug}")
