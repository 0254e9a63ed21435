"""``groupsync accounts ...``: tenant operations an operator runs, not a page."""

from __future__ import annotations

import click

from app.accounts.models import Account
from app.config import current_settings
from app.extensions import db
from app.flows.rights import delete_account
from app.google.vault import TokenVault


@click.group("accounts")
def accounts_group() -> None:
    """CRM accounts (tenants)."""


@accounts_group.command("delete")
@click.option("--account", "account_id", type=int, required=True, help="Id of the account to delete.")
@click.option("--confirm", "confirmation", required=True, help="The account's name, exactly, to confirm.")
def delete_command(account_id: int, confirmation: str) -> None:
    """Delete an account: revoke every member's Google access first, then all its data; the ledger stays."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise click.ClickException(f"--account: no account has the id {account_id}")
    if confirmation != account.name:
        raise click.ClickException(f"--confirm: give the account's name, {account.name!r}, to delete it")
    settings = current_settings()
    receipt = delete_account(
        db.session(), account, "system", settings=settings, vault=TokenVault.for_settings(settings)
    )
    click.echo(receipt.as_json())
