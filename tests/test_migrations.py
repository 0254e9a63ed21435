"""The Alembic history has one head, and upgrading an empty database yields exactly the models' schema."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.extensions import db, migrate
from tests.conftest import PG_ADMIN_URL, make_settings


def _empty_database(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    name = f"groupsync_migrations_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def test_single_head() -> None:
    app = create_app(make_settings("sqlite://", Path("/tmp/groupsync-heads")))
    with app.app_context():
        config = migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"expected one Alembic head, found {heads}"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
# Alembic cannot compare an expression index (crm_list's lower(name)); tests/crm/test_list_names.py checks it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_matches_models(kind: str, tmp_path: Path) -> None:
    app = create_app(make_settings(_empty_database(kind, tmp_path), tmp_path))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        db.engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def _triggers(connection: sa.Connection) -> set[str]:
    if connection.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger_entry'::regclass AND NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ledger_entry'"
    return set(connection.execute(sa.text(query)).scalars())


def test_migration_installs_the_ledger_guard_create_all_does(app: Flask, tmp_path: Path) -> None:
    with db.engine.connect() as conn:
        kind, expected = conn.dialect.name, _triggers(conn)
    assert expected, "create_all installed no ledger guard"
    migrated = create_app(make_settings(_empty_database(kind, tmp_path), tmp_path))
    with migrated.app_context():
        upgrade()
        with db.engine.connect() as conn:
            assert _triggers(conn) == expected
        db.engine.dispose()


def test_upgrading_keeps_every_row_that_belongs_to_an_account(tmp_path: Path) -> None:
    """On SQLite, rebuilding the account table (batch ALTER) would cascade-delete its children:
    every migration after the first must leave an account's rows where they were."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'old.sqlite3'}", tmp_path))
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO account (id, name, created_at) VALUES (1, 'A', '2026-01-01')"))
            conn.execute(
                sa.text(
                    "INSERT INTO crm_list (id, account_id, crm_id, name, created_at, updated_at,"
                    " content_changed_at) VALUES (1, 1, 'l1', 'Leads', '2026-01-01', '2026-01-01',"
                    " '2026-01-01')"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            accounts = conn.execute(sa.text("SELECT count(*) FROM account")).scalar_one()
            lists = conn.execute(sa.text("SELECT name FROM crm_list")).scalars().all()
        db.engine.dispose()
    assert (accounts, lists) == (1, ["Leads"])
