"""The ``groupsync`` command: Flask's CLI (``run``, ``db ...``, ``routes``) plus GroupSync's own groups.

Commands that need the configured app (``keys``, ``ledger``, ``crm``...) are registered on
``app.cli`` by :func:`register_commands`. The local Google emulator and the demo are not part
of the product: they ship in the separate ``groupsync-emulator`` distribution (``emulator/``).
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from app import create_app


def register_commands(app: Flask) -> None:
    from app.cli_registry import app_commands

    for command in app_commands():
        app.cli.add_command(command)


def _factory() -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_factory, add_version_option=False)
def main() -> None:
    """GroupSync: mirror CRM contact lists into Google Contacts."""
