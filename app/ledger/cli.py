"""``groupsync ledger ...``: verify, checkpoint, purge, incident listing, exports and evidence packs.

The group hangs off the top-level command as well as the app's, because ``verify --pack``
must work on a stranger's machine with no GroupSync configuration at all: it loads nothing
but :mod:`app.ledger.standalone_verify` and writes nothing. Every other command loads the
configured app first (``with_appcontext``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import update_wrapper
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from flask import current_app
from flask.cli import ScriptInfo

from app.config import ConfigError, current_settings
from app.db import utcnow
from app.extensions import db
from app.flows.incident import DEFAULT_ADVICE, Incident, notify_incident
from app.ledger.chain import INSTALLATION_CHAIN, chain_key
from app.ledger.exports import csv_lines, iter_rows, ndjson_lines
from app.ledger.models import LedgerEntry
from app.ledger.pack import PackBuildError, signed_evidence_pack
from app.ledger.queries import FilterError, LedgerFilter, incident, parse_moment
from app.ledger.services import export_checkpoints, make_checkpoints, purge_ledger
from app.ledger.signing import Signer, SigningKeyError
from app.ledger.standalone_verify import PackError, Report, Trust, trust_from_args, verify_pack
from app.ledger.verify import verify_database
from app.security.audit import verify_audit

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
F = TypeVar("F", bound=Callable[..., Any])


def _push_app(ctx: click.Context) -> None:
    """The configured app's context, or a clear list of what the configuration lacks."""
    if current_app:
        return
    try:
        app = ctx.ensure_object(ScriptInfo).load_app()
    except ConfigError as exc:
        raise click.ClickException(
            f"{exc}\n(only `groupsync ledger verify --pack FILE` works without configuration)"
        ) from None
    ctx.with_resource(app.app_context())


def _with_app(function: F) -> F:
    """Like Flask's ``with_appcontext``, but a missing setting is an error message, not a traceback."""

    @click.pass_context
    def wrapper(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        _push_app(ctx)
        return ctx.invoke(function, *args, **kwargs)

    return cast(F, update_wrapper(wrapper, function))


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
@click.option(
    "--public-key", type=_FILE, multiple=True, help="Trust this Ed25519 public key (PEM); repeatable."
)
@click.option(
    "--key-id", multiple=True, help="Trust the key with this fingerprint (SHA-256 hex); repeatable."
)
@click.option(
    "--integrity-only",
    is_flag=True,
    help="Exit 0 when the data is intact though no trusted key vouches for it (the verdict still says so).",
)
@click.pass_context
def verify_command(
    ctx: click.Context,
    pack: Path | None,
    public_key: Sequence[Path],
    key_id: Sequence[str],
    integrity_only: bool,
) -> None:
    """Verify the ledger or a pack: VERIFIED (0), FAILED (1) or INTEGRITY ONLY (2; 0 with --integrity-only).

    Without --pack the account audit log is checked too; a fault there is FAILED (1).

    Only the keys given here are trusted; without one the best verdict is INTEGRITY ONLY.
    """
    try:
        trust = trust_from_args(list(public_key), list(key_id))
        report = verify_pack(pack, trust) if pack else _verify_database(ctx, trust)
    except (PackError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    code = report.exit_code(accept_integrity_only=integrity_only)
    if pack is None and not _verify_account_audit_log():
        code = 1
    if code:
        raise click.exceptions.Exit(code)


# ``verify --pack`` must run where nothing is configured, so the top-level CLI must not build
# the app before it runs (it builds it only for the database: ``_verify_database``). The CLI
# wraps commands in Flask's ``with_appcontext`` unless their callback carries this marker.
assert verify_command.callback is not None
verify_command.callback._groupsync_in_app = True  # type: ignore[attr-defined]


def _verify_database(ctx: click.Context, trust: Trust) -> Report:
    _push_app(ctx)
    return verify_database(db.session, trust)


def _verify_account_audit_log() -> bool:
    """The account audit log (app/security) is chained like the ledger and checked with it."""
    audit = verify_audit(db.session)
    for line in audit.lines():
        click.echo(line)
    return audit.ok


@ledger_group.command("checkpoint")
@_with_app
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
@_with_app
def purge_command() -> None:
    """Delete entries older than GROUPSYNC_RETENTION_LEDGER_DAYS, recording each purge in its chain."""
    results = purge_ledger(db.session, utcnow())
    for result in results:
        click.echo(f"{result.chain}\tpurged {result.purged} entries through seq {result.through_seq}")
    click.echo(f"{len(results)} chain(s) purged")


@ledger_group.command("incident")
@_with_app
@click.option("--from", "start", required=True, help="Start of the window (date or ISO date-time, UTC).")
@click.option(
    "--to", "end", required=True, help="End of the window (exclusive; a bare date includes that day)."
)
@click.option(
    "--notify",
    is_flag=True,
    help="Also notify each affected user (e-mail plus a notice at next sign-in) and record it in the ledger.",
)
@click.option("--what", "description", help="What happened, in plain words (required with --notify).")
@click.option(
    "--what-uk", "description_uk", help="--what in Ukrainian, for users reading GroupSync in Ukrainian."
)
@click.option(
    "--what-ru", "description_ru", help="--what in Russian, for users reading GroupSync in Russian."
)
@click.option(
    "--advice", help="What users should do (a default, translated for each user, is used when omitted)."
)
@click.option("--advice-uk", help="--advice in Ukrainian.")
@click.option("--advice-ru", help="--advice in Russian.")
def incident_command(
    *,
    start: str,
    end: str,
    notify: bool,
    description: str | None,
    description_uk: str | None,
    description_ru: str | None,
    advice: str | None,
    advice_uk: str | None,
    advice_ru: str | None,
) -> None:
    """List the accounts and users whose Google data flowed in a window; with --notify, tell them.

    Users read the notice in their own language; the operator's --what and --advice are shown as
    written to readers of a language without its --what-uk/--what-ru (--advice-uk/--advice-ru).
    """
    window_start = _moment(start, "from")
    window_end = _moment(end, "to", end=True)
    assert window_start is not None
    assert window_end is not None
    if window_end <= window_start:
        raise click.BadParameter("must be later than --from", param_hint="--to")
    if notify:
        described = _versions(description, uk=description_uk, ru=description_ru, hint="--what")
        advised = _versions(advice, uk=advice_uk, ru=advice_ru, hint="--advice")
        _notify(window_start, window_end, described, advised)
        return
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


def _versions(text: str | None, *, hint: str, **languages: str | None) -> tuple[str, dict[str, str]]:
    """``text`` and its versions by language, trimmed; a version without ``text`` is refused."""
    versions = {language: value.strip() for language, value in languages.items() if value and value.strip()}
    if versions and not (text or "").strip():
        raise click.BadParameter(f"give {hint} too: it is shown in every other language", param_hint=hint)
    return (text or "").strip(), versions


def _notify(
    start: datetime,
    end: datetime,
    description: tuple[str, dict[str, str]],
    advice: tuple[str, dict[str, str]],
) -> None:
    if not description[0]:
        raise click.BadParameter("say what happened: users are told it", param_hint="--what")
    the_incident = Incident(
        start,
        end,
        description[0],
        advice[0] or DEFAULT_ADVICE,
        description_in=description[1],
        advice_in=advice[1],
    )
    untranslated = [f"--what-{lang}" for lang in ("uk", "ru") if lang not in description[1]]
    if advice[0]:
        untranslated += [f"--advice-{lang}" for lang in ("uk", "ru") if lang not in advice[1]]
    if untranslated:
        click.echo(f"Note: without {', '.join(untranslated)}, those readers see your words as written.")
    results = notify_incident(db.session, the_incident, settings=current_settings())
    click.echo("account_id\tuser_id\temail")
    for result in results:
        click.echo(f"{result.account_id}\t{result.user_id}\t{result.email_outcome}")
    failed = sum(1 for result in results if result.email_outcome == "failed")
    click.echo(
        f"{len(results)} user(s) notified and recorded in the ledger ({failed} e-mail(s) failed: "
        "they still see the notice at sign-in). Notify Google as well: see docs/ledger.md, Incidents."
    )


@ledger_group.command("pack")
@_with_app
@click.option("--account", "account_id", type=int, required=True, help="Account whose chain to pack.")
@click.option("--from", "start", help="Start of the window (date or ISO date-time, UTC).")
@click.option("--to", "end", help="End of the window (exclusive; a bare date includes that day).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Zip file to write."
)
def pack_command(account_id: int, start: str | None, end: str | None, out: Path) -> None:
    """Checkpoint the ledger, then write an evidence pack for one account signed with the ledger key."""
    try:
        data = signed_evidence_pack(
            db.session,
            current_settings(),
            account_id=account_id,
            start=_moment(start, "from"),
            end=_moment(end, "to", end=True),
            now=utcnow(),
        )
    except (SigningKeyError, PackBuildError) as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(data)
    click.echo(f"evidence pack written to {out}")


@ledger_group.command("export")
@_with_app
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), default="ndjson", show_default=True)
@click.option("--account", "account_id", type=int, help="Only this account's chain (default: every chain).")
@click.option(
    "--installation/--no-installation",
    default=True,
    show_default=True,
    help="With --account, also the installation chain (sign-ins before an account is known).",
)
@click.option("--user", help="Only entries about this user id.")
@click.option("--purpose", help="Only this purpose.")
@click.option("--tag", help="Only this event tag.")
@click.option("--method", help="Only this Google API method.")
@click.option("--outcome", help="Only this outcome.")
@click.option("--from", "start", help="Start of the window (date or ISO date-time, UTC).")
@click.option("--to", "end", help="End of the window (exclusive; a bare date includes that day).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: standard output)."
)
def export_command(
    fmt: str, account_id: int | None, installation: bool, out: Path | None, **filters: str | None
) -> None:
    """Export ledger entries as CSV or NDJSON, with the reviewer page's filters, in storage order."""
    args = {("from" if k == "start" else "to" if k == "end" else k): v for k, v in filters.items() if v}
    try:
        chosen = LedgerFilter.parse(args)
    except FilterError as exc:
        raise click.UsageError(str(exc)) from None
    statement = chosen.statement()
    if account_id is not None:
        chains = [chain_key(account_id)] + ([INSTALLATION_CHAIN] if installation else [])
        statement = statement.where(LedgerEntry.chain.in_(chains))
    rows = iter_rows(db.engine, statement)
    lines = csv_lines(rows) if fmt == "csv" else ndjson_lines(rows)
    if out is None:
        for chunk in lines:
            click.echo(chunk, nl=False)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        for chunk in lines:
            handle.write(chunk)
    click.echo(f"ledger export written to {out}", err=True)
