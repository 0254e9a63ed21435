"""``groupsync crm ...``: CRM data from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from app.accounts.models import Account
from app.crm.csv_import import CsvError, guess_mapping, import_rows, parse_csv
from app.crm.services import ConflictError
from app.crm.validation import InputError
from app.extensions import db


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
        raise click.ClickException(f"{file}: {exc}") from None
    except InputError as exc:
        raise click.ClickException(f"--list: {exc.errors[0].message}") from None
    columns = ", ".join(f"{h} -> {t}" for h, t in zip(parsed.headers, mapping, strict=True) if t)
    click.echo(f"Columns: {columns}")
    for row in report.rows:
        reason = f": {row.reason}" if row.reason else ""
        click.echo(f"row {row.row} {row.crm_id or '-'} {row.status}{reason}")
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("created", "updated", "unchanged", "skipped"))
    click.echo(f"List '{report.list_name}': {counts}")
