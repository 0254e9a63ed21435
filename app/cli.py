"""The ``groupsync`` command: Flask's CLI (``run``, ``shell``, ``routes``) plus GroupSync's own groups.

Every group hangs off the top-level command itself, so ``--help`` at any level answers on a
machine where nothing is configured: the application (and with it the configuration) is
built only when a command actually runs. A missing or malformed setting then ends the
command with the list of problems :class:`app.config.ConfigError` names, not a traceback.
The local Google emulator and the demo are not part of the product: they ship in the
separate ``groupsync-emulator`` distribution (``emulator/``).
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from app import create_app
from app.config import ConfigError


def register_commands(app: Flask) -> None:
    """Also offer the commands on ``app.cli`` (``flask --app app ...`` and Flask's test runner)."""
    from app.cli_registry import app_commands

    for command in app_commands():
        app.cli.add_command(_in_app(command))


def _factory() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _in_app(command: click.Command) -> click.Command:
    """Build the app when ``command`` (or, for a group, one of its commands) runs, not before.

    Only the leaf commands load it, so the help of a group and of each command needs none.
    """
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _in_app(sub)
    elif command.callback is not None and not getattr(command.callback, "_groupsync_in_app", False):
        command.callback = with_appcontext(command.callback)
        command.callback._groupsync_in_app = True  # type: ignore[attr-defined]
    return command


class _Group(FlaskGroup):
    """Flask's group without its habit of building the app to list or look up commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.commands.get(cmd_name)


@click.group(cls=_Group, create_app=_factory, add_version_option=False)
def main() -> None:
    """GroupSync: mirror CRM contact lists into Google Contacts."""


def _migrations_group(flask_migrate_db: click.Group) -> click.Group:
    """Flask-Migrate's ``db`` commands under a group that needs no app itself.

    Its own ``db`` group builds the app in its callback, which runs before a subcommand's
    ``--help`` is read; each of its commands builds the app when it runs anyway. The group's
    ``--directory``/``--x-arg`` options are left out: the migrations folder is the package's.
    """
    return click.Group(
        "db", commands=flask_migrate_db.commands, help=flask_migrate_db.help, no_args_is_help=True
    )


def _add_commands() -> None:
    from flask_migrate.cli import db as db_group  # type: ignore[import-untyped]

    from app import models  # noqa: F401  (commands' modules read the complete table metadata)
    from app.cli_registry import app_commands

    main.add_command(_migrations_group(db_group))
    for command in app_commands():
        main.add_command(_in_app(command))


_add_commands()
