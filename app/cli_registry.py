"""Which CLI commands each domain contributes (kept apart from ``app.cli`` to avoid import cycles)."""

from __future__ import annotations

import click


def app_commands() -> list[click.Command]:
    """Commands that run inside the configured application."""
    from app.accounts.cli import accounts_group
    from app.crm.cli import crm_group
    from app.google.cli import connections_group, keys_group
    from app.ledger.cli import ledger_group
    from app.privacy.cli import privacy_group
    from app.subject_requests.cli import requests_group
    from app.worker.cli import worker_command
    from app.workspace.cli import marketplace_group

    return [
        accounts_group,
        crm_group,
        keys_group,
        connections_group,
        ledger_group,
        privacy_group,
        requests_group,
        worker_command,
        marketplace_group,
    ]
