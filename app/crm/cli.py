"""``groupsync crm ...``: CRM data from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.accounts.api import account_syncs, api_key_json
from app.accounts.models import Account, Membership, Role
from app.crm import services
from app.crm.csv_import import CsvError, guess_mapping, import_rows, parse_csv
from app.crm.models import ApiKey, ContactList
from app.crm.services import ConflictError, NotFoundError
from app.crm.validation import InputError
from app.extensions import db, shown_message


@click.group("crm")
def crm_group() -> None:
    """CRM contacts and lists."""


@crm_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", type=int, required=True, help="Account id to import into.")
@click.option("--list", "list_name", required=True, help="Name of the list (created if missing).")
def import_command(file: Path, account_id: int, list_name: str) -> None:
    """Import contacts from a CSV FILE into a list, mapping columns by their headers."""
    if db.session.get(Account, account_id) is None:
        raise click.ClickException(f"--account: no account has the id {account_id}")
    try:
        parsed = parse_csv(file.read_bytes())
        mapping = guess_mapping(parsed.headers)
        report = import_rows(db.session, account_id, parsed, mapping, list_name)
    except (CsvError, ConflictError) as exc:
        raise click.ClickException(f"{file}: {shown_message(str(exc))}") from None
    except InputError as exc:
        raise click.ClickException(f"--list: {exc.errors[0].message}") from None
    columns = ", ".join(f"{h} -> {t}" for h, t in zip(parsed.headers, mapping, strict=True) if t)
    click.echo(f"Columns: {columns}")
    for row in report.rows:
        reason = f": {shown_message(row.reason)}" if row.reason else ""
        click.echo(f"row {row.row} {row.crm_id or '-'} {row.status}{reason}")
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("created", "updated", "unchanged", "skipped"))
    click.echo(f"List '{report.list_name}': {counts}")


_ACCOUNT = click.option("--account", "account_id", type=int, required=True, help="Id of the account.")


def _account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise click.ClickException(f"--account: no account has the id {account_id}")
    return account


def _echo(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def _list_and_member(account_id: int, list_id: str, membership_id: int) -> tuple[ContactList, Membership]:
    account = _account(account_id)
    try:
        contact_list = services.get_list(db.session, account.id, list_id)
    except NotFoundError as exc:
        raise click.ClickException(f"--list: {exc.message}") from None
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.account_id != account.id:
        raise click.ClickException(f"--member: the account has no member with the id {membership_id}")
    return contact_list, membership


_LIST = click.option("--list", "list_id", required=True, help="The CRM's id of the list.")
_MEMBER = click.option("--member", "membership_id", type=int, required=True, help="Member id.")


@crm_group.command("grant")
@_ACCOUNT
@_LIST
@_MEMBER
def grant_command(account_id: int, list_id: str, membership_id: int) -> None:
    """Make a list available to a member (what the admin page's "make available" does)."""
    contact_list, membership = _list_and_member(account_id, list_id, membership_id)
    if membership.role is Role.REVIEWER:
        raise click.ClickException("--member: a reviewer does not sync lists")
    added = services.grant_access(db.session, contact_list, membership, "system")
    _echo({"list_id": list_id, "member_id": membership_id, "status": "added" if added else "unchanged"})


@crm_group.command("withdraw")
@_ACCOUNT
@_LIST
@_MEMBER
def withdraw_command(account_id: int, list_id: str, membership_id: int) -> None:
    """Withdraw a list from a member: its contacts leave that member's Google group at the next sync."""
    contact_list, membership = _list_and_member(account_id, list_id, membership_id)
    removed = services.withdraw_access(db.session, contact_list, membership.id, "system")
    _echo({"list_id": list_id, "member_id": membership_id, "status": "removed" if removed else "unchanged"})


@crm_group.group("api-keys")
def api_keys_group() -> None:
    """Keys of the CRM API (a key made here has no creator, so it reaches no admin operation)."""


@api_keys_group.command("list")
@_ACCOUNT
def api_keys_list(account_id: int) -> None:
    """The account's keys, revoked ones included (one JSON object a line; never a secret)."""
    for key in services.api_keys(db.session, _account(account_id).id):
        _echo(api_key_json(key))


@api_keys_group.command("create")
@_ACCOUNT
@click.option("--name", required=True, help="A label telling keys apart.")
def api_keys_create(account_id: int, name: str) -> None:
    """Create a key and print its secret, once; only its hash is kept."""
    try:
        key, secret = services.create_api_key(db.session, _account(account_id).id, name, None)
    except InputError as exc:
        raise click.ClickException(f"--name: {exc.errors[0].message}") from None
    _echo({"api_key": api_key_json(key), "secret": secret})


@api_keys_group.command("revoke")
@_ACCOUNT
@click.option("--key", "key_id", type=int, required=True, help="Id of the key (see `list`).")
def api_keys_revoke(account_id: int, key_id: int) -> None:
    """Revoke a key: the next request made with it is refused."""
    key = db.session.get(ApiKey, key_id)
    if key is None or key.account_id != _account(account_id).id:
        raise click.ClickException(f"--key: the account has no API key with the id {key_id}")
    services.revoke_api_key(db.session, key)
    _echo(api_key_json(key))


@crm_group.command("syncs")
@_ACCOUNT
def syncs_command(account_id: int) -> None:
    """Every member's syncs of the account's lists and their status (one JSON object a line)."""
    for sync in account_syncs(_account(account_id).id):
        _echo(sync)
