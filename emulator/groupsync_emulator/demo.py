"""``groupsync-demo`` (``make demo``): the whole product on one machine against the local Google emulator.

Starts the emulator (state kept in the instance folder), migrates the database, seeds a
demo CRM account whose people are the emulator's test identities, runs the embedded
worker, and serves the web app — then prints where to go and who to sign in as.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from app import create_app
from app.accounts.models import Account, Membership, Role, User
from app.config import Settings
from app.crm.models import ContactList, ListAccess
from app.extensions import db
from app.worker.embedded import EmbeddedWorker
from groupsync_emulator.cli import RunningEmulator, serve_in_thread
from groupsync_emulator.demo_data import DEMO_LIST_ID, seed_demo_account
from groupsync_emulator.demo_workspace import WorkspaceDemo, seed_workspace, seed_workspace_account
from groupsync_emulator.hooks import HookError, HooksClient
from groupsync_emulator.oauth_state import IDENTITIES
from groupsync_emulator.state import ClientSpec, EmulatorMode, EmulatorSettings

DEMO_ACCOUNT = "Acme CRM (demo)"


@dataclass(frozen=True)
class DemoPerson:
    identity_index: int
    role: Role


# Three of the emulator's four identities get a role; the fourth can sign in to found an account.
DEMO_PEOPLE = (
    DemoPerson(0, Role.ADMIN),
    DemoPerson(1, Role.MEMBER),
    DemoPerson(2, Role.REVIEWER),
)

# What a real user already has in Google Contacts: GroupSync must leave all of it untouched.
_PERSONAL_CONTACTS = {
    "groups": [{"name": "Family"}],
    "contacts": [
        {
            "person": {"names": [{"givenName": "Мама"}], "phoneNumbers": [{"value": "+380 44 000 0001"}]},
            "groups": ["Family"],
        },
        {"person": {"names": [{"givenName": "Dentist"}], "phoneNumbers": [{"value": "+380 44 000 0002"}]}},
    ],
}


def _persistent_secret(instance: Path, name: str) -> str:
    """A demo secret kept in the instance folder so sessions and the OAuth client survive restarts."""
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def demo_settings(instance: Path, host: str, port: int, emulator_port: int) -> Settings:
    return Settings.from_env(
        {
            "GROUPSYNC_ENV": "demo",
            "GROUPSYNC_INSTANCE_PATH": str(instance),
            "GROUPSYNC_SECRET_KEY": _persistent_secret(instance, "secret_key"),
            "GROUPSYNC_GOOGLE_CLIENT_SECRET": _persistent_secret(instance, "google_client_secret"),
            "GOOGLE_EMULATOR_HOST": f"127.0.0.1:{emulator_port}",
            "GROUPSYNC_PUBLIC_URL": f"http://{host}:{port}",
            "GROUPSYNC_LOG_JSON": "false",
            "GROUPSYNC_SYNC_CHANGE_DELAY_SECONDS": "5",
            "GROUPSYNC_SYNC_INTERVAL_SECONDS": "300",
        }
    )


def start_emulator(settings: Settings, instance: Path, port: int) -> RunningEmulator:
    client = ClientSpec(
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        redirect_uris=(f"{settings.public_url}/auth/callback", f"{settings.public_url}/google/callback"),
    )
    return serve_in_thread(
        EmulatorSettings(mode=EmulatorMode.DEMO, state_file=instance / "emulator.sqlite3", clients=(client,)),
        port=port,
    )


def seed(session: Session) -> Account:
    """Create the demo account, its people and its contact list; running it again changes nothing.

    Once the demo list exists (even deleted) the account was seeded: nothing is seeded again, so
    a member an admin removed, or a list withdrawn, stays that way after a restart.
    """
    account = session.scalar(select(Account).where(Account.name == DEMO_ACCOUNT))
    if account is not None and session.scalar(
        select(ContactList.id).where(ContactList.account_id == account.id, ContactList.crm_id == DEMO_LIST_ID)
    ):
        return account
    if account is None:
        account = Account(name=DEMO_ACCOUNT)
        session.add(account)
        session.flush()
    memberships = []
    for person in DEMO_PEOPLE:
        identity = IDENTITIES[person.identity_index]
        user = session.scalar(select(User).where(User.google_sub == identity.sub))
        if user is None:
            user = User(google_sub=identity.sub, email=identity.email, name=identity.name)
            session.add(user)
        membership = session.scalar(
            select(Membership).where(Membership.account == account, Membership.user == user)
        )
        if membership is None:
            membership = Membership(account=account, user=user, role=person.role)
            session.add(membership)
        memberships.append(membership)
    session.commit()
    contact_list: ContactList = seed_demo_account(session, account)
    for membership in memberships:
        if membership.role is Role.REVIEWER:
            continue
        granted = session.scalar(
            select(ListAccess).where(
                ListAccess.list_id == contact_list.id, ListAccess.membership_id == membership.id
            )
        )
        if granted is None:
            session.add(ListAccess(list_id=contact_list.id, membership_id=membership.id, granted_by="demo"))
    session.commit()
    return account


def seed_personal_contacts(emulator_url: str) -> None:
    hooks = HooksClient(emulator_url)
    for person in DEMO_PEOPLE:
        identity = IDENTITIES[person.identity_index]
        snapshot = hooks.call("GET", f"people/accounts/{identity.sub}/snapshot")
        if snapshot.get("contacts"):
            continue  # seeded on an earlier start (the emulator keeps its state file)
        try:
            hooks.call("POST", f"people/accounts/{identity.sub}/seed", _PERSONAL_CONTACTS)
        except HookError as exc:
            raise click.ClickException(f"could not seed the emulator's personal contacts: {exc}") from exc


def prepare(settings: Settings, workspace: WorkspaceDemo | None = None) -> Flask:
    app = create_app(settings)
    with app.app_context():
        upgrade()
        seed(db.session())
        if workspace is not None:
            seed_workspace_account(db.session(), workspace)
        db.session.remove()
    return app


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--emulator-port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--instance",
    default="instance/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo's database, keys and emulator state.",
)
def demo_command(host: str, port: int, emulator_port: int, instance: Path) -> None:
    """Run GroupSync with its worker and the local Google emulator, seeded with demo data."""
    instance = instance.resolve()
    instance.mkdir(parents=True, exist_ok=True)
    settings = demo_settings(instance, host, port, emulator_port)
    emulator = start_emulator(settings, instance, emulator_port)
    seed_personal_contacts(emulator.url)
    workspace = seed_workspace(emulator.url, instance)
    app = prepare(settings, workspace)
    worker = EmbeddedWorker(app)
    worker.start()
    server = make_server(host, port, app, threaded=True)
    _banner(settings, emulator, workspace)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        worker.stop()
        emulator.stop()


def _banner(settings: Settings, emulator: RunningEmulator, workspace: WorkspaceDemo) -> None:
    lines = [
        "",
        f"GroupSync demo: {settings.public_url}",
        f"Local Google emulator: {emulator.url}",
        "Sign in with Google, then pick one of these test identities on the emulator's page:",
    ]
    for person in DEMO_PEOPLE:
        identity = IDENTITIES[person.identity_index]
        lines.append(f"  {identity.email:32} {person.role.value:9} ({identity.name})")
    spare = IDENTITIES[len(DEMO_PEOPLE)]
    lines.append(f"  {spare.email:32} (no account yet: signing in founds a new CRM account)")
    lines.append("Workspace admin path (second account, domain kyiv-trading.example, contacts delegated):")
    lines.extend(f"  {user['email']:32} ({user['name']})" for user in workspace.users)
    lines.append(f"  the first is the admin: open /workspace/, upload {workspace.key_path}, confirm, Test")
    lines.append("Press Ctrl+C to stop.")
    click.echo("\n".join(lines))
