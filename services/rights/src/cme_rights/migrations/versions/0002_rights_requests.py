"""Rights requests, their clock, audit trail, decisions and data collections.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("clock_events", "audit_log", "decisions")


def _at() -> sa.Column:
    return sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("request_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("request_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("requester", JSONB, nullable=False),
        sa.Column("subject", JSONB, nullable=False),
        sa.Column("acting_as", sa.Text, nullable=False),
        sa.Column("authority", JSONB, nullable=False),
        sa.Column("identity_verified", sa.Boolean, nullable=False),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("on_hold", sa.Text, nullable=True),
        sa.Column("subject_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("requester_subject_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("possible_matches", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("response", JSONB, nullable=True),
        sa.Column("approved_by", sa.Text, nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_on", sa.Date, nullable=True),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("rights_requests_open_by_due", "rights_requests", ["due_date"],
                    postgresql_where=sa.text("status <> 'responded'"))
    op.create_table(
        "clock_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("request_id", UUID(as_uuid=True), sa.ForeignKey("rights_requests.request_id"), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("due_date_after", sa.Date, nullable=True),
        sa.Column("on_hold_after", sa.Text, nullable=True),
        sa.Column("recorded_by", sa.Text, nullable=False),
        _at(),
    )
    op.create_index("clock_events_request", "clock_events", ["request_id", "id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("request_id", UUID(as_uuid=True), sa.ForeignKey("rights_requests.request_id"), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_status", sa.Text, nullable=True),
        sa.Column("to_status", sa.Text, nullable=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _at(),
    )
    op.create_index("audit_log_request", "audit_log", ["request_id", "id"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("request_id", UUID(as_uuid=True), sa.ForeignKey("rights_requests.request_id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("decision", JSONB, nullable=False),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_role", sa.Text, nullable=False),
        _at(),
    )
    op.create_index("decisions_request", "decisions", ["request_id", "id"])
    op.create_table(
        "asks",
        sa.Column("ask_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("request_id", UUID(as_uuid=True), sa.ForeignKey("rights_requests.request_id"), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("message", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("asks_request", "asks", ["request_id"])
    op.create_index("asks_open", "asks", ["ask_id"], postgresql_where=sa.text("state = 'open'"))
    op.create_table(
        "ask_targets",
        sa.Column("ask_id", UUID(as_uuid=True), sa.ForeignKey("asks.ask_id"), nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", JSONB, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("ask_id", "service"),
    )
    op.create_table(
        "ask_chunks",
        sa.Column("ask_id", UUID(as_uuid=True), sa.ForeignKey("asks.ask_id"), nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("last", sa.Boolean, nullable=False),
        sa.Column("total_items", sa.Integer, nullable=True),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("items", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("ask_id", "service", "chunk"),
    )
    op.create_table(
        "rectifications_applied",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("request_id", UUID(as_uuid=True), nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("subject_id", UUID(as_uuid=True), nullable=False),
        sa.Column("records_changed", sa.Integer, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        _at(),
    )
    # Records as they happened (LGA 1972 s224): the history tables take inserts only, whoever asks.
    op.execute("""
        CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
        END $$
    """)
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_history_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change()")


def downgrade() -> None:
    for table in ("rectifications_applied", "ask_chunks", "ask_targets", "asks", *reversed(APPEND_ONLY),
                  "rights_requests"):
        op.drop_table(table)
    op.execute("DROP FUNCTION refuse_history_change()")
