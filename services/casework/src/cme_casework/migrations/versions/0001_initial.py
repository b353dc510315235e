"""The kit's outbox and inbox; cases, their append-only history, and the restriction log.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from cme_shared.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("case_history", "restriction_events")


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "cases",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("carer_subject_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("child_upn", sa.Text),
        sa.Column("child_sex", sa.Text, nullable=False, server_default="unknown"),
        sa.Column("child_date_of_birth", sa.Date),
        sa.Column("borough", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("risk", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_opened_on", sa.Date, nullable=False),
        sa.Column("closed_on", sa.Date),
        sa.Column("closure_reason", sa.Text),
        sa.Column("next_due_date", sa.Date),
        sa.Column("next_due_kind", sa.Text),
        sa.Column("last_entry_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("cases_child", "cases", ["child_subject_id"])
    op.create_index("cases_upn", "cases", ["child_upn"])
    op.create_index("cases_due", "cases", ["next_due_date"], postgresql_where=sa.text("status <> 'closed'"))
    # A child has at most one case that is not closed: a further referral joins it (DOMAIN section 2).
    op.create_index("cases_one_active_per_child", "cases", ["child_subject_id"], unique=True,
                    postgresql_where=sa.text("status <> 'closed'"))

    op.create_table(
        "case_history",
        sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("child_subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False),
        # The entry this one corrects or follows up. Not a foreign key: PostgreSQL checks one with a row
        # lock, which needs the UPDATE privilege the service gives up below; `supersedes_earlier` checks it.
        sa.Column("supersedes", sa.BigInteger),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("case_history_case", "case_history", ["case_id", "entry_id"])
    op.create_index("case_history_child", "case_history", ["child_subject_id"])

    op.create_table(
        "restriction_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("rights_request_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("restriction_events_subject", "restriction_events", ["subject_id", "id"])

    # Records as they happened (LGA 1972 s224; FOI Act s46 Code of Practice): history is never
    # rewritten. The service's own role loses UPDATE, DELETE and TRUNCATE on it, and a trigger refuses
    # them to anyone who grants them back.
    op.execute(
        """
        CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    op.execute(
        """
        CREATE FUNCTION supersedes_earlier() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.supersedes IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM case_history WHERE entry_id = NEW.supersedes AND entry_id < NEW.entry_id) THEN
            RAISE EXCEPTION 'case_history.supersedes must name an earlier entry'
              USING ERRCODE = 'foreign_key_violation';
          END IF;
          RETURN NEW;
        END $$;
        """
    )
    op.execute("CREATE TRIGGER case_history_supersedes BEFORE INSERT ON case_history "
               "FOR EACH ROW EXECUTE FUNCTION supersedes_earlier()")
    for table in APPEND_ONLY:
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM CURRENT_USER")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_history_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()")


def downgrade() -> None:
    for table in ("restriction_events", "case_history", "cases", "inbox", "outbox"):
        op.drop_table(table)
    op.execute("DROP FUNCTION refuse_history_change()")
    op.execute("DROP FUNCTION supersedes_earlier()")
