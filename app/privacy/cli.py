"""``groupsync privacy ...``: announcing a new privacy-policy version by e-mail."""

from __future__ import annotations

import click

from app.config import current_settings
from app.extensions import db
from app.privacy import policy_change
from app.privacy.policy import upcoming_policy


@click.group("privacy")
def privacy_group() -> None:
    """The privacy policy and its users."""


@privacy_group.command("notify-policy")
def notify_policy_command() -> None:
    """E-mail users about a published policy version that takes effect later (once each; safe to rerun)."""
    settings = current_settings()
    upcoming = upcoming_policy(settings)
    if upcoming is None:
        click.echo("No published policy version takes effect later: nothing to announce.")
        return
    start = policy_change.notice_from(upcoming, settings)
    results = policy_change.notify_upcoming(db.session(), settings=settings)
    if start is None or not results:
        click.echo(f"{upcoming.version}: nobody to notify today (notices start on {start}).")
        return
    failed = [user_id for user_id, outcome in results if outcome == "failed"]
    sent = len(results) - len(failed)
    click.echo(
        f"{upcoming.version} (in force from {upcoming.effective}): {sent} e-mail(s) sent"
        + (f", {len(failed)} failed (users {', '.join(map(str, failed))}; run again)" if failed else "")
    )
