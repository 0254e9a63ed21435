"""``groupsync accounts ...``: tenant operations an operator runs, not a page."""

from __future__ import annotations

import json

import click
from sqlalchemy.exc import IntegrityError

from app.accounts import services
from app.accounts.api import invitation_json, member_json
from app.accounts.models import Account, Membership
from app.config import current_settings
from app.db import utcnow
from app.extensions import db
from app.flows import inactivity
from app.flows.rights import delete_account
from app.google.vault import TokenUnreadableError, TokenVault
from app.privacy.account_copy import CopyError


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


@accounts_group.command("copies")
def copies_command() -> None:
    """List the sealed copies of accounts deleted for inactivity (one JSON object a line), oldest first."""
    for copy in inactivity.copies(db.session):
        click.echo(
            json.dumps(
                {
                    "account_id": copy.account_id,
                    "deleted_at": copy.deleted_at.isoformat(),
                    "destroyed_after": copy.expires_at.isoformat(),
                    "rows": copy.rows,
                    "key_id": copy.key_id,
                }
            )
        )


@accounts_group.command("restore")
@click.option("--account", "account_id", type=int, required=True, help="Id the deleted account had.")
def restore_command(account_id: int) -> None:
    """Restore an account deleted for inactivity from its sealed copy (at its owner's request)."""
    settings = current_settings()
    try:
        loaded = inactivity.restore(
            db.session(), account_id, vault=TokenVault.for_settings(settings), now=utcnow()
        )
    except (inactivity.LifecycleError, CopyError, TokenUnreadableError) as exc:
        raise click.ClickException(f"--account: {exc}") from None
    except IntegrityError as exc:
        raise click.ClickException(
            f"--account: the copy conflicts with rows added since; nothing was restored ({exc.orig})"
        ) from None
    click.echo(
        json.dumps(
            {
                "restored_account_id": loaded.account_id,
                "rows": loaded.rows,
                "google": "members' Google connections are disconnected: each member reconnects",
            },
            sort_keys=True,
        )
    )


def _account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise click.ClickException(f"--account: no account has the id {account_id}")
    return account


_ACCOUNT = click.option("--account", "account_id", type=int, required=True, help="Id of the account.")


@accounts_group.command("members")
@_ACCOUNT
def members_command(account_id: int) -> None:
    """List the account's members (one JSON object a line), as GET /api/v1/admin/members does."""
    for membership in services.members_of(db.session, _account(account_id)):
        click.echo(json.dumps(member_json(membership), ensure_ascii=False))


@accounts_group.command("invite")
@_ACCOUNT
@click.option("--email", required=True, help="Address to invite (signs in with Google as this address).")
@click.option("--role", required=True, type=click.Choice(["admin", "member", "reviewer"]), help="Role.")
def invite_command(account_id: int, email: str, role: str) -> None:
    """Invite an e-mail address into the account; inviting it again changes its role."""
    try:
        invitation = services.invite(
            db.session, _account(account_id), email=email, role=services.parse_role(role), invited_by=None
        )
    except services.MembershipError as exc:
        raise click.ClickException(f"--{exc.field}: {exc}") from None
    click.echo(json.dumps(invitation_json(invitation), ensure_ascii=False))


@accounts_group.command("invitations")
@_ACCOUNT
def invitations_command(account_id: int) -> None:
    """List the account's open invitations (one JSON object a line)."""
    for invitation in services.invitations_of(db.session, _account(account_id)):
        click.echo(json.dumps(invitation_json(invitation), ensure_ascii=False))


@accounts_group.command("set-role")
@_ACCOUNT
@click.option("--member", "membership_id", type=int, required=True, help="Member id (see `members`).")
@click.option("--role", required=True, type=click.Choice(["admin", "member", "reviewer"]), help="New role.")
def set_role_command(account_id: int, membership_id: int, role: str) -> None:
    """Change a member's role; the account's last admin keeps theirs."""
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.account_id != _account(account_id).id:
        raise click.ClickException(f"--member: the account has no member with the id {membership_id}")
    try:
        services.change_role(db.session, membership, services.parse_role(role))
    except services.MembershipError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(member_json(membership), ensure_ascii=False))
