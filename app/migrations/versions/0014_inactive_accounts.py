"""Inactive accounts: last activity, warning and freeze times on the account; sealed copies of deleted ones.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:00:00.000000

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite could make a column NOT NULL only by rebuilding the account table,
    # and dropping it would cascade-delete every row that belongs to an account.
    op.add_column("account", sa.Column("last_active_at", app.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("account", sa.Column("inactivity_warned_at", app.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("account", sa.Column("frozen_at", app.db.UTCDateTime(timezone=True), nullable=True))
    # Activity was not tracked before: the clock starts at the upgrade, so no existing account is
    # warned or frozen for a silence nobody measured.
    account = sa.table("account", sa.column("last_active_at", app.db.UTCDateTime(timezone=True)))
    op.get_bind().execute(account.update().values(last_active_at=datetime.now(UTC)))
    op.create_table(
        "account_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_copy")),
        sa.UniqueConstraint("account_id", name=op.f("uq_account_copy_account_id")),
    )
    with op.batch_alter_table("account_copy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_copy_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_copy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_copy_expires_at"))
    op.drop_table("account_copy")
    op.drop_column("account", "frozen_at")
    op.drop_column("account", "inactivity_warned_at")
    op.drop_column("account", "last_active_at")
