"""Which CLI commands each domain contributes (kept apart from ``app.cli`` to avoid import cycles)."""

from __future__ import annotations

import click


def app_commands() -> list[click.Command]:
    """Commands that run inside the configured application."""
    from app.accounts.cli import accounts_group
    from app.crm.cli import crm_group
    from app.google.cli import connections_group, keys_group
    from app.ledger.cli import ledger_group
    from app.worker.cli import worker_command

    return [accounts_group, crm_group, keys_group, connections_group, ledger_group, worker_command]


def standalone_commands() -> list[click.Command]:
    """Commands that must work with no GroupSync configuration at all."""
    from app.demo import demo_command
    from app.emulator.cli import emulator_command
    from app.ledger.cli import ledger_group

    return [emulator_command, demo_command, ledger_group]
