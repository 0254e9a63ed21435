"""``groupsync ledger ...``: verify, checkpoint, purge, incident listing and evidence packs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from app.config import current_settings
from app.db import utcnow
from app.extensions import db
from app.ledger.pack import evidence_pack
from app.ledger.queries import FilterError, incident, parse_moment
from app.ledger.services import export_checkpoints, make_checkpoints, purge_ledger
from app.ledger.signing import Signer, SigningKeyError, load_public_key
from app.ledger.verify import PackError, verify_database, verify_pack
from app.security.audit import verify_audit

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("ledger")
def ledger_group() -> None:
    """The Limited Use ledger of every Google data flow."""


def _moment(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value, name, end_of_day=end)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{name}") from None


@ledger_group.command("verify")
@click.option("--pack", type=_FILE, help="Verify this evidence pack offline instead of the database.")
@click.option("--public-key", type=_FILE, help="Trust only this Ed25519 public key (PEM) for checkpoints.")
def verify_command(pack: Path | None, public_key: Path | None) -> None:
    """Recompute every chain and check every checkpoint; exit status 1 names the first bad entry."""
    try:
        pinned = load_public_key(public_key.read_bytes()) if public_key else None
        report = verify_pack(pack, pinned) if pack else verify_database(db.session, pinned)
    except (PackError, SigningKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    audit_ok = pack is not None or _verify_account_audit_log()
    if not report.ok or not audit_ok:
        raise click.exceptions.Exit(1)


def _verify_account_audit_log() -> bool:
    """The account audit log (app/security) is chained like the ledger and checked with it."""
    audit = verify_audit(db.session)
    for line in audit.lines():
        click.echo(line)
    return audit.ok


@ledger_group.command("checkpoint")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the new checkpoints and the public key to this directory, outside the database.",
)
def checkpoint_command(export_dir: Path | None) -> None:
    """Sign the head of every chain that moved since the last checkpoint."""
    try:
        signer = Signer.for_settings(current_settings())
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    created = make_checkpoints(db.session, signer)
    for checkpoint in created:
        click.echo(f"{checkpoint.chain}\tseq {checkpoint.seq}\t{checkpoint.head_hash}")
    click.echo(f"{len(created)} checkpoint(s) signed with key {signer.key_id}")
    if export_dir is not None:
        click.echo(f"exported to {export_checkpoints(created, signer, export_dir)}")


@ledger_group.command("purge")
def purge_command() -> None:
    """Delete entries older than GROUPSYNC_RETENTION_LEDGER_DAYS, recording each purge in its chain."""
    results = purge_ledger(db.session, utcnow())
    for result in results:
        click.echo(f"{result.chain}\tpurged {result.purged} entries through seq {result.through_seq}")
    click.echo(f"{len(results)} chain(s) purged")


@ledger_group.command("incident")
@click.option("--from", "start", required=True, help="Start of the window (date or ISO date-time, UTC).")
@click.option(
    "--to", "end", required=True, help="End of the window (exclusive; a bare date includes that day)."
)
def incident_command(start: str, end: str) -> None:
    """List the accounts and users whose Google data flowed in a window, for breach notification."""
    window_start = _moment(start, "from")
    window_end = _moment(end, "to", end=True)
    assert window_start is not None
    assert window_end is not None
    if window_end <= window_start:
        raise click.BadParameter("must be later than --from", param_hint="--to")
    rows = incident(db.session, window_start, window_end)
    click.echo("account_id\taccount\tuser_id\tuser_email\tflows\tfirst\tlast")
    for row in rows:
        click.echo(
            "\t".join(
                [
                    str(row.account_id) if row.account_id is not None else "-",
                    row.account_name or "(deleted or none)",
                    str(row.user_id) if row.user_id is not None else "-",
                    row.user_email or "(deleted or none)",
                    str(row.flows),
                    row.first.isoformat(),
                    row.last.isoformat(),
                ]
            )
        )
    click.echo(f"{len(rows)} account/user pair(s) with Google data flows in the window")


@ledger_group.command("pack")
@click.option("--account", "account_id", type=int, required=True, help="Account whose chain to pack.")
@click.option("--from", "start", help="Start of the window (date or ISO date-time, UTC).")
@click.option("--to", "end", help="End of the window (exclusive; a bare date includes that day).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Zip file to write."
)
def pack_command(account_id: int, start: str | None, end: str | None, out: Path) -> None:
    """Write an evidence pack for one account."""
    data = evidence_pack(
        db.session,
        current_settings(),
        account_id=account_id,
        start=_moment(start, "from"),
        end=_moment(end, "to", end=True),
        now=utcnow(),
    )
    out.write_bytes(data)
    click.echo(f"evidence pack written to {out}")
