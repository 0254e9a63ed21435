"""API keys remember the form that created them, so a form sent twice makes one key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:39:41.940107

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing keys keep no form token (NULL), which the unique index allows any number of.
    with op.batch_alter_table("crm_api_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_crm_api_key_form_token_hash"), ["form_token_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("crm_api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_api_key_form_token_hash"))
        batch_op.drop_column("form_token_hash")
