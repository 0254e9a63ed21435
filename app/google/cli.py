"""``groupsync keys ...`` (the keys that encrypt stored OAuth tokens) and ``groupsync connections ...``."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from app.config import current_settings
from app.extensions import db
from app.flows.connections import purge_unused_connections
from app.google.keys import KeyUnavailableError, new_key_spec
from app.google.vault import TokenVault


@click.group("keys")
def keys_group() -> None:
    """Token encryption keys: generate a new one, re-encrypt every token under the primary."""


@keys_group.command("generate")
@click.option("--key-id", default=None, help="Id for the new key (default: k<UTC date and time>).")
def generate_command(key_id: str | None) -> None:
    """Print a new AES-256 key as 'keyid:base64key'.

    Put it FIRST in GROUPSYNC_TOKEN_KEYS (it becomes the primary key), keep the old keys after
    it, restart, run 'groupsync keys rotate', and only then remove the old keys.
    """
    try:
        spec = new_key_spec(key_id or datetime.now(UTC).strftime("k%Y%m%d%H%M%S"))
    except KeyUnavailableError as exc:
        raise click.BadParameter(str(exc), param_hint="--key-id") from None
    click.echo(spec)


@click.group("connections")
def connections_group() -> None:
    """Users' Google connections."""


@connections_group.command("purge-unused")
def purge_unused_command() -> None:
    """Disconnect (revoke and delete) connections unused for GROUPSYNC_RETENTION_CONNECTION_DAYS."""
    settings = current_settings()
    purged = purge_unused_connections(
        db.session(), settings=settings, vault=TokenVault.for_settings(settings)
    )
    click.echo(
        f"{purged} connection(s) unused for {settings.retention_connection_days} days disconnected, "
        "or disconnected that long and their Google e-mail and account id erased."
    )


@keys_group.command("rotate")
def rotate_command() -> None:
    """Re-encrypt every stored token under the primary key; running it again changes nothing."""
    settings = current_settings()
    try:
        vault = TokenVault.for_settings(settings)
    except KeyUnavailableError as exc:
        raise click.ClickException(f"GROUPSYNC_TOKEN_KEYS: {exc}") from None
    report = vault.rotate_all(db.session())
    click.echo(
        f"Primary key '{vault.primary_key_id}': {report.rotated} re-encrypted, "
        f"{report.already_current} already current, {report.unreadable} unreadable."
    )
    if report.unreadable:
        raise click.ClickException(
            f"{report.unreadable} stored secret(s) could not be decrypted with the configured keys; "
            "their connections now ask the user to reconnect (see the log for which)."
        )
