"""The kit's outbox and inbox; cases and their append-only history.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from cme_shared.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "cases",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("child_upn", sa.Text),
        sa.Column("borough", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("risk", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_date", sa.Date),
    )
    op.create_index("cases_child", "cases", ["child_subject_id"])
    op.create_index("cases_upn", "cases", ["child_upn"])
    op.create_table(
        "case_history",
        sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("detail", JSONB, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # Records as they happened (LGA 1972 s224; FOI Act s46 Code): the history is never rewritten.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON case_history FROM CURRENT_USER")
    op.execute(
        """
        CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'case history is append-only: % refused', TG_OP;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER case_history_append_only BEFORE UPDATE OR DELETE ON case_history "
        "FOR EACH ROW EXECUTE FUNCTION refuse_history_change()"
    )
    op.execute(
        "CREATE TRIGGER case_history_no_truncate BEFORE TRUNCATE ON case_history "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE case_history")
    op.execute("DROP FUNCTION refuse_history_change()")
    for table in ("cases", "inbox", "outbox"):
        op.drop_table(table)
