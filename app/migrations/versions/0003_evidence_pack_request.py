"""Reviewers' evidence-pack requests, which the worker (holding the ledger key) builds and signs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

import app.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_pack_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("window_start", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_end", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "state",
            sa.Enum("pending", "running", "done", "failed", name="packstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("progress", sa.String(length=120), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_evidence_pack_request_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user.id"],
            name=op.f("fk_evidence_pack_request_requested_by_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_pack_request")),
    )
    with op.batch_alter_table("evidence_pack_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_pack_request_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index("ix_evidence_pack_request_state_created", ["state", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_pack_request", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_pack_request_state_created")
        batch_op.drop_index(batch_op.f("ix_evidence_pack_request_account_id"))
    op.drop_table("evidence_pack_request")
