"""``groupsync marketplace listing``: the Marketplace listing filled in from this installation's settings."""

from __future__ import annotations

import json

import click

from app.config import current_settings
from app.workspace.marketplace import listing


@click.group("marketplace")
def marketplace_group() -> None:
    """Google Workspace Marketplace material."""


@marketplace_group.command("listing")
def listing_command() -> None:
    """Print the listing (scopes, texts, icon and policy URLs) as JSON."""
    click.echo(json.dumps(listing(current_settings()), ensure_ascii=False, indent=2))
