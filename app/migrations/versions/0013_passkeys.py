"""Passkeys (WebAuthn credentials) as a second factor, and their single-use challenges.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 08:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_passkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_security_passkey_membership_id_membership"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_passkey")),
        sa.UniqueConstraint(
            "membership_id", "credential_id", name=op.f("uq_security_passkey_membership_id_credential_id")
        ),
    )
    with op.batch_alter_table("security_passkey", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_passkey_membership_id"), ["membership_id"], unique=False
        )
    op.create_table(
        "security_passkey_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login_session_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["login_session_id"],
            ["login_session.id"],
            name=op.f("fk_security_passkey_challenge_login_session_id_login_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_passkey_challenge")),
    )
    with op.batch_alter_table("security_passkey_challenge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_passkey_challenge_login_session_id"), ["login_session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("security_passkey_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_passkey_challenge_login_session_id"))
    op.drop_table("security_passkey_challenge")
    with op.batch_alter_table("security_passkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_passkey_membership_id"))
    op.drop_table("security_passkey")
