"""``groupsync worker``: the embedded worker in the foreground, for installs without Celery."""

from __future__ import annotations

import click
from flask import current_app

from app.worker.embedded import EmbeddedWorker


@click.command("worker")
@click.option(
    "--tick", default=2.0, show_default=True, type=click.FloatRange(0.1), help="Seconds between scans."
)
@click.option("--once", is_flag=True, help="Run the syncs that are due now, then exit.")
def worker_command(tick: float, once: bool) -> None:
    """Run due syncs (periodic, after CRM changes, "sync now") until stopped."""
    worker = EmbeddedWorker(current_app._get_current_object(), tick_seconds=tick)  # type: ignore[attr-defined]
    if once:
        click.echo(f"{worker.run_once()} sync run(s) started")
        return
    click.echo("GroupSync worker running; Ctrl+C stops it.")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(1.0)
    except KeyboardInterrupt:
        worker.stop()
