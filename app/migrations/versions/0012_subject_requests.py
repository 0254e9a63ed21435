"""Data-subject requests: each account's public request page slug and the requests made on it.

Revision ID: 0012
Revises: 0005
Create Date: 2026-12-02 19:00:00.000000

"""

import secrets

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every account gets its public page's random slug now, so showing the address never writes.
    # A plain ADD COLUMN and a unique index: SQLite can only make the column NOT NULL by rebuilding
    # the account table, and dropping it would cascade-delete every row that belongs to an account.
    op.add_column("account", sa.Column("request_slug", sa.String(length=32), nullable=True))
    account = sa.table("account", sa.column("id", sa.Integer()), sa.column("request_slug", sa.String()))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(account.c.id)).all():
        connection.execute(
            account.update().where(account.c.id == account_id).values(request_slug=secrets.token_urlsafe(12))
        )
    op.create_index(op.f("ix_account_request_slug"), "account", ["request_slug"], unique=True)
    op.create_table(
        "subject_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_week_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_day_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overdue_flagged_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("contacts_affected", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_subject_request_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_subject_request_token_hash")),
    )
    with op.batch_alter_table("subject_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_request_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subject_request_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_subject_request_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subject_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_request_state"))
        batch_op.drop_index(batch_op.f("ix_subject_request_due_at"))
        batch_op.drop_index(batch_op.f("ix_subject_request_account_id"))
    op.drop_table("subject_request")
    op.drop_index(op.f("ix_account_request_slug"), table_name="account")
    op.drop_column("account", "request_slug")
