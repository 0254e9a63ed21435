"""Account audit log (hash-chained), sign-in rules, second factors, where sessions began, people's own choices.

Revision ID: 0005
Revises: 0010
Create Date: 2026-12-02 16:40:00

"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision = "0005"
down_revision = "0010"
branch_labels = None
depends_on = None

# The audit table's insert-only guard, frozen here as it stood when this revision was written
# (app.security.models holds the same SQL for create_all in tests).
_PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION account_audit_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND coalesce(current_setting('groupsync.ledger_maintenance', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'account_audit_entry is insert-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$
"""
_PG_GUARD_TRIGGERS = (
    "CREATE TRIGGER account_audit_entry_insert_only_rows BEFORE UPDATE OR DELETE ON account_audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION account_audit_entry_guard()",
    "CREATE TRIGGER account_audit_entry_insert_only_truncate BEFORE TRUNCATE ON account_audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION account_audit_entry_guard()",
)
_SQLITE_GUARD = """
CREATE TRIGGER account_audit_entry_insert_only BEFORE UPDATE ON account_audit_entry
BEGIN
    SELECT RAISE(ABORT, 'account_audit_entry is insert-only: UPDATE refused');
END
"""


def upgrade() -> None:
    op.create_table(
        "account_audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("outcome", sa.String(length=60), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_audit_entry")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_account_audit_entry_chain_seq")),
    )
    with op.batch_alter_table("account_audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_audit_entry_account_id"), ["account_id"], unique=False)
    op.create_table(
        "account_audit_head",
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_account_audit_head")),
    )
    op.create_table(
        "security_policy",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("second_factor", sa.String(length=20), nullable=False),
        sa.Column("idle_minutes", sa.Integer(), nullable=False),
        sa.Column("absolute_hours", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("web_networks", sa.Text(), nullable=False),
        sa.Column("api_networks", sa.Text(), nullable=False),
        sa.Column("web_hours", sa.String(length=11), nullable=False),
        sa.Column("api_hours", sa.String(length=11), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_security_policy_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_security_policy")),
    )
    op.create_table(
        "security_second_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("secret_key_id", sa.String(length=64), nullable=False),
        sa.Column("last_counter", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_security_second_factor_membership_id_membership"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_second_factor")),
    )
    with op.batch_alter_table("security_second_factor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_second_factor_membership_id"), ["membership_id"], unique=False
        )
    op.create_table(
        "security_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_security_recovery_code_membership_id_membership"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_recovery_code")),
    )
    with op.batch_alter_table("security_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_recovery_code_membership_id"), ["membership_id"], unique=False
        )
    op.create_table(
        "security_session_detail",
        sa.Column("login_session_id", sa.Integer(), nullable=False),
        sa.Column("second_factor_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["login_session_id"],
            ["login_session.id"],
            name=op.f("fk_security_session_detail_login_session_id_login_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("login_session_id", name=op.f("pk_security_session_detail")),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_chosen", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("notice_email", sa.String(length=320), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("age_confirmed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("processing_restricted_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sign_in_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("age_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "paused_sync",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sync_id", sa.Integer(), nullable=False),
        sa.Column("paused_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sync_id"], ["contact_sync.id"], name=op.f("fk_paused_sync_sync_id_contact_sync"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_paused_sync_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "sync_id", name=op.f("pk_paused_sync")),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip", sa.String(length=45), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_GUARD_FUNCTION)
        for statement in _PG_GUARD_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(_SQLITE_GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS account_audit_entry_insert_only_truncate ON account_audit_entry")
        op.execute("DROP TRIGGER IF EXISTS account_audit_entry_insert_only_rows ON account_audit_entry")
        op.execute("DROP FUNCTION IF EXISTS account_audit_entry_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS account_audit_entry_insert_only")
    op.drop_table("paused_sync")
    with op.batch_alter_table("sign_in_request", schema=None) as batch_op:
        batch_op.drop_column("age_confirmed")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("processing_restricted_at")
        batch_op.drop_column("age_confirmed_at")
        batch_op.drop_column("notice_email")
        batch_op.drop_column("name_chosen")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
        batch_op.drop_column("ip")
    op.drop_table("security_session_detail")
    with op.batch_alter_table("security_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_recovery_code_membership_id"))
    op.drop_table("security_recovery_code")
    with op.batch_alter_table("security_second_factor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_second_factor_membership_id"))
    op.drop_table("security_second_factor")
    op.drop_table("security_policy")
    op.drop_table("account_audit_head")
    with op.batch_alter_table("account_audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_audit_entry_account_id"))
    op.drop_table("account_audit_entry")
