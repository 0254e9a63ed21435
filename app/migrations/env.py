"""Alembic environment: runs inside the Flask app so the engine and metadata come from it."""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app

from app.extensions import db

logger = logging.getLogger("alembic.env")


def run_migrations_online() -> None:
    connectable = db.engine
    with connectable.connect() as connection:
        options = {
            **current_app.extensions["migrate"].configure_args,
            "compare_type": True,
            # SQLite cannot ALTER most things in place; batch mode copies the table instead.
            "render_as_batch": connection.dialect.name == "sqlite",
        }
        context.configure(connection=connection, target_metadata=db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `groupsync db upgrade`")
run_migrations_online()
